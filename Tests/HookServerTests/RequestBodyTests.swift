import DeliveryCore
import Foundation
import HTTPTypes
import HooktopTesting
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Typed request bodies: a wrong type is a 422 naming the field and what it must be; absent leaves a setting alone,
/// null clears it.
struct RequestBodyTests {
    @Test(arguments: [
        ("/v1/endpoints", #"{"url":5}"#, "url must be a string"),
        ("/v1/endpoints", #"{"description":"x"}"#, "url is required"),
        ("/v1/endpoints", #"{"url":"http://127.0.0.1:9/a","max_in_flight":"x"}"#, "max_in_flight must be an integer"),
        ("/v1/endpoints", #"{"url":"http://127.0.0.1:9/a","timeout_ms":1.5}"#, "timeout_ms must be an integer"),
        ("/v1/endpoints", #"{"url":"http://127.0.0.1:9/a","event_types":[5]}"#, "event_types must be an array of strings"),
        ("/v1/endpoints", #"{"url":"http://127.0.0.1:9/a","headers":{"X-A":1}}"#, "headers.X-A must be a string"),
        ("/v1/endpoints", #"{"url":"http://127.0.0.1:9/a","headers":["X-A"]}"#, "headers must be an object of strings"),
        ("/v1/endpoints", #"{"url":"http://127.0.0.1:9/a","bearer_token":"a","basic_auth":"b:c"}"#,
         "give bearer_token or basic_auth, not both"),
        ("/v1/endpoints", #"{"url":"http://127.0.0.1:9/a","client_key_pem":"k"}"#,
         "client_certificate_pem and client_key_pem are given together"),
        ("/v1/endpoints", #"{"url":"http://127.0.0.1:9/a","rate_limit":true}"#, "rate_limit must be an integer"),
        ("/v1/deliveries/redeliver", #"{"status":"dead","dry_run":"yes"}"#, "dry_run must be true or false"),
        ("/v1/deliveries/redeliver", #"{"status":"lost"}"#, "status must be dead, cancelled or delivered"),
        ("/v1/deliveries/redeliver", #"{"dry_run":true}"#, "status is required"),
        ("/v1/deliveries/redeliver", #"{"status":null}"#, "status is required"),
        ("/v1/deliveries/redeliver", #"{"status":"dead","error_class":"gremlins"}"#, "unknown error_class gremlins"),
    ])
    func aWrongFieldIsNamed(path: String, body: String, message: String) async throws {
        let fixture = try Fixture(allowPrivate: true)
        try await fixture.test { client in
            let response = try await fixture.post(client, path, body)
            #expect(response.status == .unprocessableContent, "\(body)")
            try expectError(response, code: "invalid_field")
            let error = try #require(try json(response)["error"] as? [String: Any])
            #expect(error["message"] as? String == message, "\(body)")
        }
        #expect(try fixture.store.endpoints().isEmpty)
    }

    @Test(arguments: ["[1]", "5", #""text""#, "{", #"{"url":"a"} x"#])
    func aBodyThatIsNotAnObjectIsBadJSON(_ body: String) async throws {
        let fixture = try Fixture(allowPrivate: true)
        try await fixture.test { client in
            let response = try await fixture.post(client, "/v1/endpoints", body)
            #expect(response.status == .badRequest, "\(body)")
            try expectError(response, code: "bad_json")
        }
    }

    @Test func absentLeavesASettingAloneAndNullClearsIt() async throws {
        let fixture = try Fixture(allowPrivate: true)
        try await fixture.test { client in
            let created = try json(
                try await fixture.post(
                    client, "/v1/endpoints",
                    #"{"url":"http://127.0.0.1:9/a","headers":{"X-B":"2","X-A":"1"},"bearer_token":"t-1","rate_limit":7,"retry_schedule":"1s,1m"}"#))
            let id = try #require(created["id"] as? String)
            let stored = try #require(try fixture.store.endpoint(id: id))
            #expect(stored.connection.headers.map(\.name) == ["X-B", "X-A"], "in the order given")
            #expect(stored.rateLimit == 7)

            let untouched = try json(try await fixture.request(client, .patch, "/v1/endpoints/\(id)", #"{"description":"d"}"#))
            #expect(untouched["description"] as? String == "d")
            #expect(untouched["rate_limit"] as? Int == 7)
            #expect(untouched["retry_schedule"] as? String != nil)
            #expect(untouched["authorization"] as? String != nil)
            #expect((untouched["headers"] as? [String: String])?.count == 2)

            let cleared = try json(
                try await fixture.request(
                    client, .patch, "/v1/endpoints/\(id)",
                    #"{"headers":null,"bearer_token":null,"rate_limit":null,"retry_schedule":null}"#))
            #expect(cleared["rate_limit"] is NSNull)
            #expect(cleared["retry_schedule"] is NSNull)
            #expect(cleared["authorization"] is NSNull)
            #expect((cleared["headers"] as? [String: String])?.isEmpty == true)
            #expect(cleared["description"] as? String == "d")
        }
    }

    @Test func aKeyGivenTwiceKeepsItsLastValue() async throws {
        let fixture = try Fixture(allowPrivate: true)
        try await fixture.test { client in
            let created = try json(
                try await fixture.post(
                    client, "/v1/endpoints",
                    #"{"url":"http://127.0.0.1:9/a","bearer_token":"t-1","bearer_token":null,"description":"a","description":"b"}"#))
            #expect(created["authorization"] is NSNull, "the later null wins")
            #expect(created["description"] as? String == "b")
        }
    }

    @Test func aLoneSurrogateReadsAsTheReplacementCharacter() async throws {
        let fixture = try Fixture(allowPrivate: true)
        try await fixture.test { client in
            let response = try await fixture.post(
                client, "/v1/endpoints", #"{"url":"http://127.0.0.1:9/a","description":"\ud800x"}"#)
            #expect(response.status == .created)
            #expect(try json(response)["description"] as? String == "\u{FFFD}x")
        }
    }
}
