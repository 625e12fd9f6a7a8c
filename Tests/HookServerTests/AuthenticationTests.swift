import DeliveryCore
import Foundation
import HTTPTypes
import HookServer
import HooktopTesting
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import DeliveryCore

/// No spelling of a path reaches a token-protected handler without the token.
struct AuthenticationTests {
    /// Every protected route of the table, made concrete with a real endpoint and delivery (and every endpoint action).
    static func protectedRequests(endpointID: String, deliveryID: String) -> [(HTTPRequest.Method, String)] {
        HookServer.routes.filter { !$0.isPublic }.flatMap { route -> [(HTTPRequest.Method, String)] in
            let actions = ["pause", "resume", "disable", "enable", "rotate-secret", "recover"]
            let paths: [String] = route.path.contains(":action")
                ? actions.map { route.path.replacingOccurrences(of: ":action", with: $0) } : [route.path]
            return paths.map { path in
                let concrete = path.replacingOccurrences(
                    of: ":id", with: path.hasPrefix("/v1/deliveries") ? deliveryID : endpointID)
                return (route.method, concrete)
            }
        }
    }

    /// Ways of writing `path` that a router or a proxy might read as the same route.
    static func variants(of path: String) -> [String] {
        let rest = String(path.dropFirst())  // "v1/endpoints/ep_..."
        let segments = rest.split(separator: "/").map(String.init)
        let afterV1 = segments.dropFirst().joined(separator: "/")
        return [
            path, "/" + path, "//" + path, "/." + path, "/./" + rest, "/" + segments.joined(separator: "//"),
            "/" + segments.joined(separator: "/./"), "/" + segments.joined(separator: "///"),
            path + "/", path + "//", path + "/.", path + "?a=1", path + ";x",
            "/v1/../" + rest, "/healthz/../" + rest, "/metrics/../" + rest, "/healthz/" + rest,
            "/%2F" + rest, "/%2f" + rest, "/" + segments.joined(separator: "%2F"), "/v1%2F" + afterV1,
            "/%76%31/" + afterV1, "/%2e/" + rest, "/%2E%2E/" + rest, "/v1/%2e/" + afterV1,
            path.uppercased(), "/V1/" + afterV1, "/v1\\" + afterV1,
        ]
    }

    @Test func noSpellingOfAProtectedPathReachesAHandlerWithoutTheToken() async throws {
        let fixture = try Fixture(allowPrivate: true)
        let endpoint = try fixture.store.addEndpoint(url: "http://127.0.0.1:9/a", allowPrivateDestination: true, by: testActor)
        _ = try fixture.store.publish(eventType: "a.b", payload: "{}")
        let delivery = try #require(try fixture.store.deliveries(DeliveryQuery()).first)
        let requests = Self.protectedRequests(
            endpointID: endpoint.id, deliveryID: Identifier.formatDeliveryID(delivery.id))
        #expect(requests.count >= 17)
        let body = #"{"type":"a.b","payload":{},"url":"http://127.0.0.1:9/new","since":"1h"}"#

        // A loop of its own: hundreds of connections here must not slow the loops other tests' clients share.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let app = Application(router: fixture.server.router(), eventLoopGroupProvider: .shared(group))
        let outcomes = try await app.test(.live) { client in
            let port = try #require(client.port)
            // Blocking sockets: on a thread of their own, not one of the few cooperative ones.
            let outcomes = Mutex<[(String, Int?, Bool)]>([])
            await onOwnThread {
                for (method, path) in requests {
                    for variant in Self.variants(of: path) {
                        let request = RawHTTP.request(method.rawValue, variant, body: body)
                        let (status, text) = RawHTTP.exchange(port: port, request)
                        outcomes.withLock { $0.append(("\(method) \(variant)", status, text.contains("whsec_"))) }
                    }
                }
            }
            return outcomes.withLock { $0 }
        }
        for (label, status, leaked) in outcomes {
            // Deny by default: whatever the router would make of the path, no token means 401.
            #expect(status == 401, "\(label) answered \(status.map(String.init) ?? "nothing")")
            #expect(!leaked, "\(label) leaked a secret")
        }
        let tried = outcomes.count
        try await group.shutdownGracefully()
        #expect(tried > 400)

        // Nothing was created, changed, rotated, published or deleted.
        let after = try fixture.store.endpoints()
        #expect(after.map(\.id) == [endpoint.id])
        #expect(after.first?.secret == endpoint.secret)
        #expect(after.first?.status == .active)
        #expect(try fixture.store.deliveries(DeliveryQuery()).count == 1)
        #expect(try fixture.store.auditEntries().allSatisfy { $0.via != "api" })
        #expect(fixture.wakes.count == 0)
    }

    @Test func theSameSpellingsThroughTheRouterAlone() async throws {
        let fixture = try Fixture(allowPrivate: true)
        let endpoint = try fixture.store.addEndpoint(url: "http://127.0.0.1:9/a", allowPrivateDestination: true, by: testActor)
        let requests = Self.protectedRequests(endpointID: endpoint.id, deliveryID: "dlv_1")
        try await fixture.test { client in
            for (method, path) in requests {
                for variant in Self.variants(of: path) where !variant.contains("\\") {
                    for authorization in [nil, "Bearer wrong-token", "Basic dGVzdA==", "Bearer ", HookServerTests.token] {
                        var headers = HTTPFields()
                        if let authorization { headers[.authorization] = authorization }
                        let response = try await client.execute(
                            uri: variant, method: method, headers: headers,
                            body: ByteBuffer(string: #"{"url":"http://127.0.0.1:9/b"}"#))
                        #expect(response.status == .unauthorized, "\(method) \(variant) \(authorization ?? "")")
                    }
                }
            }
        }
        #expect(try fixture.store.endpoints().map(\.id) == [endpoint.id])
    }

    /// The table is live: with the token, its concrete paths reach their handlers (so the tests above are not
    /// passing on paths that lead nowhere).
    @Test func theTablesPathsReachTheirHandlersWithTheToken() async throws {
        let fixture = try Fixture(allowPrivate: true)
        let endpoint = try fixture.store.addEndpoint(url: "http://127.0.0.1:9/a", allowPrivateDestination: true, by: testActor)
        try await fixture.test { client in
            let got = try await fixture.request(client, .get, "/v1/endpoints/\(endpoint.id)")
            #expect(got.status == .ok)
            #expect(String(buffer: got.body).contains(endpoint.secret))
            let list = try await fixture.request(client, .get, "/v1/deliveries")
            #expect(list.status == .ok)
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)
            // Only the exact public paths are public.
            for path in ["/healthz/", "//healthz", "/HEALTHZ", "/metrics/"] {
                #expect(try await client.execute(uri: path, method: .get).status == .unauthorized, "\(path)")
            }
        }
    }
}
