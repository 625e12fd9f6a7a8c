import DeliveryCore
import Testing

/// Decoding typed values straight from a scanned document.
struct ScannedJSONDecoderTests {
    struct Order: Decodable, Equatable {
        struct Line: Decodable, Equatable {
            var sku: String
            var quantity: UInt8
        }

        var id: Int64
        var note: String?
        var paid: Bool
        var total: Double
        var lines: [Line]
        var tags: [String?]
        var extra: [String: Int]
    }

    func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        let scanner = JSONScanner(Array(text.utf8))
        return try ScannedJSONDecoder().decode(type, from: try scanner.document(), in: scanner)
    }

    @Test func nestedValuesDecode() throws {
        let order = try decode(
            Order.self,
            #"{"id":9007199254740993,"note":null,"paid":true,"total":12.5,"lines":[{"sku":"a\nb","quantity":4.0}],"tags":["x",null],"extra":{"k":1e3}}"#)
        #expect(order == Order(
            id: 9_007_199_254_740_993, note: nil, paid: true, total: 12.5, lines: [.init(sku: "a\nb", quantity: 4)],
            tags: ["x", nil], extra: ["k": 1000]))
    }

    @Test(arguments: [
        #"{"id":1.5,"paid":true,"total":1,"lines":[],"tags":[],"extra":{}}"#,
        #"{"id":1,"paid":1,"total":1,"lines":[],"tags":[],"extra":{}}"#,
        #"{"id":1,"paid":true,"total":"1","lines":[],"tags":[],"extra":{}}"#,
        #"{"id":1,"paid":true,"total":1,"lines":[{"sku":"a","quantity":300}],"tags":[],"extra":{}}"#,
        #"{"id":1,"paid":true,"total":1,"lines":{},"tags":[],"extra":{}}"#,
        #"{"id":1,"paid":true,"total":1,"lines":[],"tags":[],"extra":[]}"#,
        #"{"id":1,"paid":true,"lines":[],"tags":[],"extra":{}}"#,
        #"[1]"#,
    ])
    func aWrongShapeIsADecodingError(_ text: String) {
        #expect(throws: DecodingError.self) { try decode(Order.self, text) }
    }

    @Test func keysKeepTheirOrderAndTheLastValue() throws {
        struct Keys: Decodable {
            struct Name: CodingKey {
                var stringValue: String
                var intValue: Int? { nil }
                init(stringValue: String) { self.stringValue = stringValue }
                init?(intValue: Int) { nil }
            }

            var pairs: [(String, Int)]

            init(from decoder: any Decoder) throws {
                let object = try decoder.container(keyedBy: Name.self)
                pairs = try object.allKeys.map { ($0.stringValue, try object.decode(Int.self, forKey: $0)) }
            }
        }
        let keys = try decode(Keys.self, #"{"z":1,"a":2,"z":3,"m":4}"#)
        #expect(keys.pairs.map(\.0) == ["z", "a", "m"])
        #expect(keys.pairs.map(\.1) == [3, 2, 4])
    }
}
