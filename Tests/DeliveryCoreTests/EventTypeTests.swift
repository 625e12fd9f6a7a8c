import DeliveryCore
import Testing

/// Event type names and endpoint filters.
struct EventTypeTests {
    @Test(arguments: ["a", "invoice.paid", "user.created.v2", "A_b-C.9", String(repeating: "x", count: 128)])
    func valid(name: String) {
        #expect(EventType.isValid(name))
    }

    @Test(arguments: [
        "", ".", "a.", ".a", "a..b", "a b", "a/b", "a.*", "*", "ü.b", "a\u{0}", "a\nb", "user.créé",
        String(repeating: "x", count: 129),
    ])
    func invalid(name: String) {
        #expect(!EventType.isValid(name))
    }

    @Test func filters() {
        #expect(EventTypeFilter.isValid(pattern: "*"))
        #expect(EventTypeFilter.isValid(pattern: "user.*"))
        #expect(EventTypeFilter.isValid(pattern: "user.created"))
        #expect(!EventTypeFilter.isValid(pattern: ".*"))
        #expect(!EventTypeFilter.isValid(pattern: "user.**"))
        #expect(EventTypeFilter.matches(patterns: ["user.*"], eventType: "user.created"))
        #expect(!EventTypeFilter.matches(patterns: ["user.*"], eventType: "invoice.paid"))
        #expect(EventTypeFilter.matches(patterns: [], eventType: "invoice.paid"))
    }
}
