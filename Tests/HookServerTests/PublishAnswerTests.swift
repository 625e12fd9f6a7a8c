import DeliveryCore
import Foundation
import Hummingbird
import Testing

@testable import HookServer

/// The publish answer is written by hand: it must stay valid JSON for every key a client may send.
struct PublishAnswerTests {
    @Test(arguments: [
        nil, "order-1", #"quote " and backslash \ "#, "new\nline\ttab\r", "\u{01}\u{1F}\u{7F}", "ünïcødé ✓ 🚀",
        "\u{2028}\u{2029}",
    ])
    func answerIsJSONWithTheFieldsAsGiven(key: String?) throws {
        let message = Message(
            id: "msg_0abc", eventType: "user.created", payload: #"{"a":[1,{"b":"c"}],"s":"x\"y"}"#,
            idempotencyKey: key, createdAt: Date(timeIntervalSince1970: 1_700_000_000.123))
        let bytes = PublishedMessage(PublishResult(message: message, deliveryCount: 3, duplicate: key != nil)).bytes
        #expect(bytes.last == UInt8(ascii: "\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(object["id"] as? String == "msg_0abc")
        #expect(object["type"] as? String == "user.created")
        #expect(object["deliveries"] as? Int == 3)
        #expect(object["duplicate"] as? Bool == (key != nil))
        #expect(object["created_at"] as? String == JSONRepresentation.timestamp(message.createdAt))
        if let key {
            #expect(object["idempotency_key"] as? String == key)
        } else {
            #expect(object["idempotency_key"] is NSNull)
        }
        let payload = try #require(object["payload"] as? [String: Any])
        #expect(payload["s"] as? String == #"x"y"#)
        #expect(Set(object.keys) == ["id", "type", "idempotency_key", "created_at", "deliveries", "duplicate", "payload"])
    }

    @Test func bearerTokenComparison() {
        let token = Array("hk_secret123".utf8)
        for header in ["Bearer hk_secret123", "Bearer  hk_secret123 ", "Bearer \thk_secret123\t"] {
            #expect(BearerAuthMiddleware<BasicRequestContext>.bearerMatches(header, token), "\(header)")
        }
        for header in [
            "", "Bearer", "Bearer ", "bearer hk_secret123", "Basic hk_secret123", "Bearer hk_secret12",
            "Bearer hk_secret1234", "Bearer hk_secret123x", "Bearer hk_secreT123", "Bearerhk_secret123",
        ] {
            #expect(!BearerAuthMiddleware<BasicRequestContext>.bearerMatches(header, token), "\(header)")
        }
    }

    /// The log's tokens are accepted by the digest of the token alone, blanks around it ignored, as the single
    /// token is.
    @Test func bearerTokenByDigest() {
        let access = APIAccess.digests { [APITokenDigest.hex(of: "htk_secret123")] }
        for header in ["Bearer htk_secret123", "Bearer  htk_secret123 ", "Bearer \thtk_secret123\t"] {
            #expect(access.accepts(header), "\(header)")
        }
        for header in ["", "Bearer", "Bearer  ", "bearer htk_secret123", "Bearer htk_secret12", "Bearer htk_secret1234"] {
            #expect(!access.accepts(header), "\(header)")
        }
    }
}
