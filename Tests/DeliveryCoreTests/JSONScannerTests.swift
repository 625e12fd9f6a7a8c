import DeliveryCore
import Foundation
import HooktopTesting
import Testing

struct JSONScannerTests {
    static let valid = [
        "{}", "[]", #"{"a":1}"#, " {\n\t\"a\" : [1, -2.5e+3, 0, 0.1, 1E9, true, false, null] } ",
        #"{"s":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}"#, #""text""#, "-0", "123", "true", "null",
        #"{"nested":{"deep":[[[{}]]]}}"#, "{\"ü\":\"€𝄞\"}",
    ]
    static let invalid = [
        "", " ", "{", "}", "[1,]", "{,}", #"{"a":1,}"#, #"{"a" 1}"#, #"{a:1}"#, "01", "1.", ".5", "-", "1e", "+1",
        "tru", "nul", "[1 2]", #"{"a":1}{"#, #""unterminated"#, "\"tab\there\"", #""\x""#, #""\u12G4""#, "NaN",
        "[\"\u{7f}\"", "{\"a\":1} x",
    ]

    @Test(arguments: valid)
    func acceptsWhatJSONAccepts(_ text: String) throws {
        let value = try JSONScanner(Array(text.utf8)).document()
        #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)) != nil)
        #expect(String(decoding: Array(text.utf8)[value.range], as: UTF8.self) == text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test(arguments: invalid)
    func refusesWhatIsNotJSON(_ text: String) {
        #expect(throws: JSONScanner.Failure.self) { try JSONScanner(Array(text.utf8)).document() }
    }

    @Test func refusesInvalidUTF8InStrings() {
        #expect(throws: JSONScanner.Failure.self) { try JSONScanner([0x22, 0xC3, 0x28, 0x22]).document() }
        #expect(throws: JSONScanner.Failure.self) { try JSONScanner([0x22, 0xFF, 0x22]).document() }
    }

    @Test func refusesHostileNesting() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONScanner.Failure.self) { try JSONScanner(Array(deep.utf8)).document() }
        let fine = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(throws: Never.self) { try JSONScanner(Array(fine.utf8)).document() }
    }

    @Test func membersAreFoundWithTheirBytes() throws {
        let text = #"{ "type" : "a.b", "payload": {"x": "}]\"", "y": [1, {"z": null}]} , "n": -1.5e2, "k": null }"#
        let scanner = JSONScanner(Array(text.utf8))
        let members = try scanner.members(of: try scanner.document())
        #expect(members.map(\.key) == ["type", "payload", "n", "k"])
        #expect(members.map(\.value.kind) == [.string, .object, .number, .null])
        #expect(try scanner.string(members[0].value) == "a.b")
        #expect(scanner.text(members[1].value) == #"{"x": "}]\"", "y": [1, {"z": null}]}"#)
        #expect(scanner.text(members[2].value) == "-1.5e2")
        let array = JSONScanner(Array(#"[1, "two", [3], {"4": 4}]"#.utf8))
        let elements = try array.elements(of: try array.document())
        #expect(elements.map(\.kind) == [.number, .string, .array, .object])
    }

    @Test func stringsDecodeTheirEscapes() throws {
        let text = #"["a\"b\\c\/d\ne\u00e9\ud83d\ude00", "plain", "\ud800 lone"]"#
        let scanner = JSONScanner(Array(text.utf8))
        let strings = try scanner.elements(of: try scanner.document()).map { try scanner.string($0) }
        #expect(strings == ["a\"b\\c/d\neé😀", "plain", "\u{FFFD} lone"])
    }

    @Test func integersAreReadAsJSONReadersReadThem() throws {
        let scanner = JSONScanner(Array("[12, -3, 4.0, 1e3, 1.5, 1e300]".utf8))
        let values = try scanner.elements(of: try scanner.document()).map { scanner.integer($0) }
        #expect(values == [12, -3, 4, 1000, nil, nil])
    }

    /// Random documents made of valid pieces, and the same with one byte broken, agree with Foundation's reader.
    @Test func agreesWithFoundationOnRandomDocuments() throws {
        var random = SeededGenerator(seed: 42)
        for _ in 0..<2000 {
            let text = Self.randomValue(depth: 0, &random)
            #expect(throws: Never.self, "\(text)") { try JSONScanner(Array(text.utf8)).document() }
            var bytes = Array(text.utf8)
            let index = Int.random(in: 0..<bytes.count, using: &random)
            bytes[index] = Array(#"{}[],:"\ 1ae-"#.utf8).randomElement(using: &random)!
            let ours = (try? JSONScanner(bytes).document()) != nil
            let foundation = (try? JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed)) != nil
            #expect(ours == foundation, "\(String(decoding: bytes, as: UTF8.self))")
        }
    }

    private static func randomValue(depth: Int, _ random: inout SeededGenerator) -> String {
        switch Int.random(in: 0..<(depth > 3 ? 4 : 6), using: &random) {
        case 0: return ["0", "-12", "3.25", "1e5", "-0.5E-3"].randomElement(using: &random)!
        case 1: return [#""""#, #""x""#, #""a\nb""#, #""\u0041""#, #""é""#].randomElement(using: &random)!
        case 2: return ["true", "false"].randomElement(using: &random)!
        case 3: return "null"
        case 4:
            let count = Int.random(in: 0..<4, using: &random)
            return "[" + (0..<count).map { _ in randomValue(depth: depth + 1, &random) }.joined(separator: ",") + "]"
        default:
            let count = Int.random(in: 0..<4, using: &random)
            return "{" + (0..<count).map { "\"k\($0)\": " + randomValue(depth: depth + 1, &random) }.joined(separator: ", ") + "}"
        }
    }
}
