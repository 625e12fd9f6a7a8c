@testable import DeliveryCore
import Foundation
import HTTPTypes
import HookServer
import HooktopTesting
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// A log that cannot grow: publishes answer 507 `storage_full` with `Retry-After`, `/healthz` answers 503 with the
/// reason, and both recover once there is room again.
struct StorageFullTests {
    @Test func aFullLogIsReportedByPublishAndHealthUntilThereIsRoom() async throws {
        let fixture = try Fixture(allowPrivate: true)
        _ = try fixture.store.addEndpoint(url: "http://127.0.0.1:9/a", allowPrivateDestination: true, by: testActor)
        // SQLite refuses to grow the file past `max_page_count` with SQLITE_FULL, exactly as it does on a full disk.
        let pages = try fixture.store.read { try $0.scalar("PRAGMA page_count") }
        try fixture.store.read { try $0.execute("PRAGMA max_page_count = \(pages)") }
        let big = #"{"type":"a.b","payload":{"blob":"\#(String(repeating: "x", count: 100_000))"}}"#
        try await fixture.test { client in
            let healthy = try await client.execute(uri: "/healthz", method: .get)
            #expect(healthy.status == .ok)

            let refused = try await fixture.post(client, "/v1/events", big)
            #expect(refused.status.code == 507)
            #expect(refused.headers[.retryAfter] == "30")
            try expectError(refused, code: "storage_full")
            let detail = try #require(try json(refused)["error"] as? [String: Any])
            #expect((detail["message"] as? String)?.contains("disk full") == true)

            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .serviceUnavailable)
            #expect(health.headers[.retryAfter] == "30")
            let object = try json(health)
            #expect(object["status"] as? String == "unavailable")
            #expect(object["writable"] as? Bool == false)
            #expect(object["reason"] as? String == "disk full")
            #expect(try fixture.store.overview(now: Date()).writeProblem == "disk full")

            // Room again: the next write succeeds and health recovers with it.
            try fixture.store.read { try $0.execute("PRAGMA max_page_count = 1073741823") }
            #expect(try await fixture.post(client, "/v1/events", big).status == .accepted)
            let recovered = try await client.execute(uri: "/healthz", method: .get)
            #expect(recovered.status == .ok)
            #expect(try fixture.store.overview(now: Date()).writeProblem == nil)
        }
        #expect(try fixture.store.deliveries(DeliveryQuery()).count == 1, "the refused publish left nothing behind")
    }

    /// A reader (the dashboard) judges by the file system's free space: /proc has none to give.
    @Test func aFileSystemWithNoRoomIsADiskFull() throws {
        #expect(Store.diskSpaceProblem(at: "/proc/self/status") == "disk full (0 KiB free)")
        let database = try TemporaryDatabase()
        #expect(Store.diskSpaceProblem(at: database.path) == nil)
    }
}
