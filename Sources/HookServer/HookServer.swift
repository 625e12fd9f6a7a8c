import DeliveryCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Prometheus

/// The HTTP API of `hooktop serve`.
public struct HookServer: Sendable {
    /// How the API behaves.
    public struct Configuration: Sendable {
        /// Largest accepted request body in bytes (default 256 KiB).
        public var maxBodyBytes = PublishLimits.defaultMaxPayloadBytes
        /// Largest accepted batch body in bytes (default 4 MiB).
        public var maxBatchBytes = PublishLimits.defaultMaxBatchBytes
        /// Whether endpoints may point at loopback and private addresses (default `false`).
        public var allowPrivateDestinations = false
        /// The connection cap and the request deadlines.
        public var connections = ConnectionLimits()

        public init() {}
    }

    /// Every write goes through `operations`; reads go to its engine.
    public let operations: Operations
    /// The tokens the API accepts.
    public let access: APIAccess
    public let configuration: Configuration
    /// The alert monitor of this process (`POST /v1/alerts/test` sends through its destinations), if it runs one.
    public let alerts: AlertMonitor?
    /// The dispatcher of this process, if it runs one: `/metrics` counts its attempts.
    public let dispatcher: Dispatcher?
    let metrics: APIMetrics
    let health: HealthCache

    /// The engine the API reads from.
    var log: any DeliveryEngine { operations.engine }

    public init(
        operations: Operations, token: String, configuration: Configuration = Configuration(), alerts: AlertMonitor? = nil,
        dispatcher: Dispatcher? = nil
    ) {
        self.init(
            operations: operations, access: .token(token), configuration: configuration, alerts: alerts,
            dispatcher: dispatcher)
    }

    public init(
        operations: Operations, access: APIAccess, configuration: Configuration = Configuration(), alerts: AlertMonitor? = nil,
        dispatcher: Dispatcher? = nil
    ) {
        self.operations = operations
        self.alerts = alerts
        self.dispatcher = dispatcher
        self.access = access
        self.configuration = configuration
        self.metrics = APIMetrics()
        self.health = HealthCache(engine: operations.engine)
    }

    /// One route of the API: what it answers, whether it needs the token, and its handler.
    public struct Route: Sendable {
        public let method: HTTPRequest.Method
        /// The path as the router takes it, with `:name` parameters.
        public let path: String
        /// Answered without a token. Only the routes listed here as public are; every other request needs the token.
        public let isPublic: Bool
        let handler: @Sendable (HookServer, Request, BasicRequestContext) async throws -> Response

        init(
            _ method: HTTPRequest.Method, _ path: String, isPublic: Bool = false,
            _ handler: @escaping @Sendable (HookServer, Request, BasicRequestContext) async throws -> Response
        ) {
            self.method = method
            self.path = path
            self.isPublic = isPublic
            self.handler = handler
        }
    }

    /// Every route the API answers.
    public static let routes: [Route] = [
        Route(.get, "/healthz", isPublic: true) { server, _, _ in try await server.healthResponse() },
        Route(.get, "/metrics", isPublic: true) { server, _, _ in try await server.metricsText() },
        Route(.post, "/v1/events") { server, request, _ in try await server.publish(request) },
        Route(.post, "/v1/events/batch") { server, request, _ in try await server.publishBatch(request) },
        Route(.get, "/v1/endpoints") { server, _, _ in try await server.listEndpoints() },
        Route(.post, "/v1/endpoints") { server, request, _ in try await server.createEndpoint(request) },
        Route(.get, "/v1/endpoints/:id") { server, _, context in
            try await server.getEndpoint(context.parameters.require("id"))
        },
        Route(.patch, "/v1/endpoints/:id") { server, request, context in
            try await server.updateEndpoint(context.parameters.require("id"), request)
        },
        Route(.put, "/v1/endpoints/:id") { server, request, context in
            try await server.updateEndpoint(context.parameters.require("id"), request)
        },
        Route(.delete, "/v1/endpoints/:id") { server, _, context in
            try await server.deleteEndpoint(context.parameters.require("id"))
        },
        Route(.post, "/v1/endpoints/:id/:action") { server, request, context in
            try await server.endpointAction(
                context.parameters.require("id"), context.parameters.require("action"), request)
        },
        Route(.get, "/v1/deliveries") { server, request, _ in try await server.listDeliveries(request) },
        Route(.get, "/v1/deliveries/:id") { server, _, context in
            try await server.getDelivery(context.parameters.require("id"))
        },
        Route(.post, "/v1/deliveries/redeliver") { server, request, _ in try await server.replay(request) },
        Route(.post, "/v1/deliveries/:id/redeliver") { server, _, context in
            try await server.redeliver(context.parameters.require("id"))
        },
        Route(.post, "/v1/deliveries/:id/cancel") { server, _, context in
            try await server.cancel(context.parameters.require("id"))
        },
        Route(.get, "/v1/alerts") { server, request, _ in try await server.listAlerts(request) },
        Route(.post, "/v1/alerts/test") { server, _, _ in try await server.testAlert() },
    ]

    /// The router with every route and middleware.
    ///
    /// Authentication denies by default: a request needs the token unless its method and path are exactly those of
    /// a public route. The decision never depends on how the router would read the path (empty segments, `.`,
    /// percent-encoding or case), so no spelling of a path reaches a token-protected handler without the token.
    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.middlewares.add(ErrorMiddleware())
        router.middlewares.add(
            BearerAuthMiddleware(
                access: access, publicRoutes: Self.routes.filter(\.isPublic).map { ($0.method, $0.path) }))
        for route in Self.routes {
            router.on(RouterPath(route.path), method: route.method) { request, context in
                try await route.handler(self, request, context)
            }
        }
        return router
    }

    /// The API as a service listening on `host:port`, with the connection cap and the request deadlines.
    public func application(
        host: String, port: Int, logger: Logger, eventLoopGroup: EventLoopGroupProvider = .singleton,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> Application<RouterResponder<BasicRequestContext>> {
        let registry = ConnectionRegistry(limits: configuration.connections)
        return Application(
            router: router(),
            server: .http1(configuration: .init(additionalChannelHandlers: [ConnectionDeadlines(registry: registry)])),
            configuration: .init(
                address: .hostname(host, port: port), serverName: "hooktop",
                backlog: 1024, availableConnectionsDelegate: ConnectionCap(registry: registry)),
            onServerRunning: onServerRunning,
            eventLoopGroupProvider: eventLoopGroup,
            logger: logger)
    }

    private var actor: Principal { Principal.current(via: "api") }

    /// Liveness that tells the truth: 503 with the reason when the log does not take writes (a full disk), since
    /// every publish would fail then. Answered from a reading at most a second old, so probes cost no query.
    func healthResponse() async throws -> Response {
        let reading = try await health.current()
        let problem = reading.writeProblem
        let answer = APIAnswer.Health(
            status: problem == nil ? "ok" : "unavailable", writable: problem == nil, reason: problem,
            dispatcher: reading.liveWorker == nil ? "none" : "alive",
            worker: reading.liveWorker.map { .init(pid: $0.pid, host: $0.host, inFlight: $0.inFlight) })
        var response = try jsonResponse(answer, status: problem == nil ? .ok : .serviceUnavailable)
        if problem != nil { response.headers[.retryAfter] = "30" }
        return response
    }

    func listEndpoints() async throws -> Response {
        let endpoints = try await log.endpoints()
        return try jsonResponse(APIAnswer.List(data: endpoints.map { EndpointObject($0, includeSecret: false) }))
    }

    func getEndpoint(_ id: String) async throws -> Response {
        guard let endpoint = try await log.endpoint(id: id) else { throw HooktopError.notFound("endpoint", id) }
        return try jsonResponse(EndpointObject(endpoint, includeSecret: true))
    }

    func createEndpoint(_ request: Request) async throws -> Response {
        let body = try await RequestDecoding.decode(EndpointRequest.self, from: request, limit: EndpointRequest.maxBytes)
        guard let url = body.url else { throw APIError.invalid("url is required") }
        var changes = try body.changes()
        changes.url = nil
        let endpoint = try await operations.addEndpoint(
            url: url, changes: changes, secret: body.secret,
            allowPrivateDestination: configuration.allowPrivateDestinations, by: actor)
        return try jsonResponse(EndpointObject(endpoint, includeSecret: true), status: .created)
    }

    func updateEndpoint(_ id: String, _ request: Request) async throws -> Response {
        let body = try await RequestDecoding.decode(EndpointRequest.self, from: request, limit: EndpointRequest.maxBytes)
        let endpoint = try await operations.updateEndpoint(
            id: id, changes: try body.changes(), allowPrivateDestination: configuration.allowPrivateDestinations, by: actor)
        return try jsonResponse(EndpointObject(endpoint, includeSecret: false))
    }

    func deleteEndpoint(_ id: String) async throws -> Response {
        try await operations.removeEndpoint(id: id, by: actor)
        return Response(status: .noContent)
    }

    func endpointAction(_ id: String, _ action: String, _ request: Request) async throws -> Response {
        switch action {
        case "pause": try await operations.pause(endpointId: id, by: actor)
        case "resume": try await operations.resume(endpointId: id, by: actor)
        case "disable":
            let body = try await RequestDecoding.decode(DisableRequest.self, from: request, limit: 16 * 1024)
            try await operations.disable(endpointId: id, reason: body.reason ?? "", by: actor)
        case "enable": try await operations.enable(endpointId: id, by: actor)
        case "test":
            let outcome = try await operations.testEndpoint(id: id, by: actor)
            return try jsonResponse(PingObject(outcome))
        case "rotate-secret":
            let endpoint = try await operations.rotateSecret(endpointId: id, by: actor)
            return try jsonResponse(EndpointObject(endpoint, includeSecret: true))
        case "recover":
            let body = try await RequestDecoding.decode(RecoverRequest.self, from: request, limit: 16 * 1024)
            let since = try SinceText.parse(body.since)
            let count = try await operations.recover(endpointId: id, since: since, by: actor)
            return try jsonResponse(
                APIAnswer.Recovered(endpointId: id, queued: count, since: JSONRepresentation.timestamp(since)))
        default:
            throw APIError.notFound("no endpoint action '\(action)' (pause, resume, disable, enable, recover, rotate-secret)")
        }
        guard let endpoint = try await log.endpoint(id: id) else { throw HooktopError.notFound("endpoint", id) }
        return try jsonResponse(EndpointObject(endpoint, includeSecret: false))
    }

    func listDeliveries(_ request: Request) async throws -> Response {
        let parameters = request.uri.queryParameters
        var query = DeliveryQuery(limit: 100)
        if let status = parameters["status"].map(String.init), !status.isEmpty {
            query.statuses = try status.split(separator: ",").map {
                guard let value = DeliveryStatus(rawValue: String($0)) else {
                    throw APIError.invalid("status must be one of \(DeliveryStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return value
            }
        }
        if let endpoint = parameters["endpoint"].map(String.init), !endpoint.isEmpty { query.endpointId = endpoint }
        if let type = parameters["event_type"].map(String.init), !type.isEmpty { query.eventType = type }
        if let cursor = parameters["cursor"].map(String.init), !cursor.isEmpty {
            guard let id = Identifier.parseDeliveryID(cursor) else { throw APIError.invalid("cursor is not a delivery id") }
            query.before = id
        }
        if let limit = parameters["limit"].map(String.init) {
            guard let value = Int(limit), (1...1000).contains(value) else {
                throw APIError.invalid("limit must be an integer from 1 to 1000")
            }
            query.limit = value
        }
        let page = try await log.deliveries(query)
        let next = page.count == query.limit ? page.last.map { Identifier.formatDeliveryID($0.id) } : nil
        return try jsonResponse(APIAnswer.Page(data: page.map { DeliveryObject($0) }, nextCursor: next))
    }

    private func deliveryID(_ text: String) throws -> Int64 {
        guard let id = Identifier.parseDeliveryID(text) else { throw APIError.notFound("delivery \(text) not found") }
        return id
    }

    func getDelivery(_ text: String) async throws -> Response {
        let id = try deliveryID(text)
        guard let detail = try await log.deliveryDetail(id: id) else {
            throw APIError.notFound("delivery \(text) not found")
        }
        return try jsonResponse(DeliveryObject(detail.delivery, attempts: detail.attempts))
    }

    func redeliver(_ text: String) async throws -> Response {
        let id = try deliveryID(text)
        switch try await operations.redeliver(deliveryId: id, by: actor) {
        case .queued:
            return try jsonResponse(
                APIAnswer.Redelivered(id: Identifier.formatDeliveryID(id), result: "queued"), status: .accepted)
        case .performed(let attempt):
            return try jsonResponse(
                APIAnswer.Redelivered(
                    id: Identifier.formatDeliveryID(id), result: "performed", attempt: AttemptObject(attempt)))
        }
    }

    func cancel(_ text: String) async throws -> Response {
        let id = try deliveryID(text)
        try await operations.cancel(deliveryId: id, by: actor)
        return try jsonResponse(APIAnswer.Cancelled(id: Identifier.formatDeliveryID(id)))
    }

    func metricsText() async throws -> Response {
        let now = Date()
        let overview = try await log.overview(now: now)
        let summaries = try await log.endpointSummaries(now: now)
        let text = metrics.render(overview: overview, summaries: summaries, dispatcher: dispatcher)
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    func listAlerts(_ request: Request) async throws -> Response {
        let parameters = request.uri.queryParameters
        var limit = 50
        if let text = parameters["limit"].map(String.init) {
            guard let value = Int(text), (1...1000).contains(value) else {
                throw APIError.invalid("limit must be an integer from 1 to 1000")
            }
            limit = value
        }
        var before: Int64?
        if let cursor = parameters["cursor"].map(String.init), !cursor.isEmpty {
            guard let value = Int64(cursor), value > 0 else { throw APIError.invalid("cursor must be a positive integer") }
            before = value
        }
        let page = try await log.alerts(before: before, limit: limit)
        let next = page.count == limit ? page.last.map { String($0.sequence) } : nil
        return try jsonResponse(APIAnswer.Page(data: page.map { AlertObject($0) }, nextCursor: next))
    }

    func testAlert() async throws -> Response {
        guard let alerts else {
            throw HooktopError(.conflict, "no alert destination: start serve with --alert-url or --alert-exec")
        }
        let (alert, error) = try await alerts.sendTest(by: actor)
        return try jsonResponse(AlertObject(alert, ok: error == nil))
    }
}
