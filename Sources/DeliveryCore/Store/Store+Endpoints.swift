import Foundation

/// The fields of an endpoint an operator sets; `nil` leaves a field as it is on update.
public struct EndpointChanges: Sendable, Equatable {
    public var url: String?
    public var description: String?
    public var eventTypes: [String]?
    public var maxInFlight: Int?
    public var timeoutMilliseconds: Int?
    /// Replaces every extra header (the API's `headers` object).
    public var replaceHeaders: [Header]?
    /// Adds headers, replacing those of the same name (`--header`).
    public var setHeaders: [Header] = []
    /// Removes headers by name, any case (`--remove-header`).
    public var removeHeaders: [String] = []
    public var credential: SettingChange<OutboundCredential>?
    public var caPEM: SettingChange<String>?
    /// A client certificate chain and its key, set or cleared together.
    public var clientIdentity: SettingChange<ClientIdentity>?
    public var retrySchedule: SettingChange<RetryPolicy>?
    /// Requests per second at most, or no limit.
    public var rateLimit: SettingChange<Int>?

    public init(
        url: String? = nil, description: String? = nil, eventTypes: [String]? = nil, maxInFlight: Int? = nil,
        timeoutMilliseconds: Int? = nil
    ) {
        self.url = url
        self.description = description
        self.eventTypes = eventTypes
        self.maxInFlight = maxInFlight
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    /// What changed, for the audit: values where they are not secret (`url=...; rate_limit=20; credential`).
    var auditSummary: String {
        var parts: [String] = []
        if let url { parts.append("url=\(url)") }
        if description != nil { parts.append("description") }
        if let eventTypes { parts.append("events=\(eventTypes.isEmpty ? "all" : eventTypes.joined(separator: ","))") }
        if let maxInFlight { parts.append("max_in_flight=\(maxInFlight)") }
        if let timeoutMilliseconds { parts.append("timeout_ms=\(timeoutMilliseconds)") }
        switch rateLimit {
        case .set(let limit)?: parts.append("rate_limit=\(limit)")
        case .clear?: parts.append("rate_limit=none")
        case nil: break
        }
        if replaceHeaders != nil || !setHeaders.isEmpty || !removeHeaders.isEmpty { parts.append("headers") }
        if credential != nil { parts.append("credential") }
        if caPEM != nil || clientIdentity != nil { parts.append("tls") }
        if retrySchedule != nil { parts.append("retry_schedule") }
        return parts.joined(separator: "; ")
    }

    /// Whether any connection setting changes.
    var changesConnection: Bool {
        replaceHeaders != nil || !setHeaders.isEmpty || !removeHeaders.isEmpty || credential != nil || caPEM != nil
            || clientIdentity != nil || retrySchedule != nil
    }

    /// `settings` with these changes made.
    public func applied(to settings: ConnectionSettings) -> ConnectionSettings {
        var settings = settings
        if let replaceHeaders { settings.headers = replaceHeaders }
        let removed = Set(removeHeaders.map { $0.lowercased() } + setHeaders.map { $0.name.lowercased() })
        settings.headers.removeAll { removed.contains($0.name.lowercased()) }
        settings.headers += setHeaders
        switch credential {
        case .set(let value)?: settings.credential = value
        case .clear?: settings.credential = nil
        case nil: break
        }
        switch caPEM {
        case .set(let value)?: settings.caPEM = value
        case .clear?: settings.caPEM = nil
        case nil: break
        }
        switch clientIdentity {
        case .set(let identity)?:
            settings.clientCertificatePEM = identity.certificatePEM
            settings.clientKeyPEM = identity.keyPEM
        case .clear?:
            settings.clientCertificatePEM = nil
            settings.clientKeyPEM = nil
        case nil: break
        }
        switch retrySchedule {
        case .set(let value)?: settings.retrySchedule = value
        case .clear?: settings.retrySchedule = nil
        case nil: break
        }
        return settings
    }

    /// Checks every field that is set.
    /// - Throws: `HooktopError.invalidInput` naming the first bad field.
    public func validate() throws {
        if let url { _ = try DestinationPolicy.validateForm(url) }
        if let description, description.utf8.count > 1024 {
            throw HooktopError.invalid("description is longer than 1024 bytes")
        }
        if let eventTypes {
            guard eventTypes.count <= 100 else { throw HooktopError.invalid("at most 100 event type filters") }
            for pattern in eventTypes where !EventTypeFilter.isValid(pattern: pattern) {
                throw HooktopError.invalid("bad event type filter '\(pattern)': use names like invoice.paid or user.*")
            }
        }
        if let maxInFlight, !(1...1000).contains(maxInFlight) {
            throw HooktopError.invalid("max_in_flight must be between 1 and 1000")
        }
        if let timeoutMilliseconds, !(100...300_000).contains(timeoutMilliseconds) {
            throw HooktopError.invalid("timeout_ms must be between 100 and 300000")
        }
        for header in (replaceHeaders ?? []) + setHeaders { try ConnectionRules.validate(header) }
        if (replaceHeaders?.count ?? 0) + setHeaders.count > 50 { throw HooktopError.invalid("at most 50 headers") }
        if case .set(let credential)? = credential { try credential.validate() }
        if case .set(let pem)? = caPEM { try ConnectionRules.validateCA(pem) }
        if case .set(let identity)? = clientIdentity {
            try ConnectionRules.validateClientIdentity(certificatePEM: identity.certificatePEM, keyPEM: identity.keyPEM)
        }
        if case .set(let limit)? = rateLimit, !(1...10_000).contains(limit) {
            throw HooktopError.invalid("rate_limit must be between 1 and 10000 requests per second")
        }
        if case .set(let schedule)? = retrySchedule, !(1...50).contains(schedule.delays.count) {
            throw HooktopError.invalid("a retry schedule has 1 to 50 delays")
        }
    }
}

/// A change to one optional setting: set it, or clear it.
public enum SettingChange<Value: Sendable & Equatable>: Sendable, Equatable {
    case set(Value)
    case clear
}

/// A client certificate chain and its private key, PEM.
public struct ClientIdentity: Sendable, Equatable {
    public var certificatePEM: String
    public var keyPEM: String

    public init(certificatePEM: String, keyPEM: String) {
        self.certificatePEM = certificatePEM
        self.keyPEM = keyPEM
    }
}

extension Store {
    static let endpointColumns = """
        id, url, description, status, disabled_reason, event_types, secret, previous_secret,
        previous_secret_expires_at, max_in_flight, timeout_ms, allow_private, created_at, updated_at, connection,
        rate_limit
        """

    static func endpoint(_ row: SQLiteRow) -> Endpoint {
        let types = row.text(5)
        return Endpoint(
            id: row.text(0), url: row.text(1), description: row.text(2),
            status: EndpointStatus(rawValue: row.text(3)) ?? .disabled, disabledReason: row.optionalText(4),
            eventTypes: types.isEmpty ? [] : types.split(separator: ",").map(String.init), secret: row.text(6),
            previousSecret: row.optionalText(7), previousSecretExpiresAt: row.optionalDate(8),
            maxInFlight: row.int(9), timeoutMilliseconds: row.int(10), allowPrivateDestination: row.int(11) != 0,
            connection: ConnectionSettings.fromStored(row.text(14)), rateLimit: row.optionalInt(15), createdAt: row.date(12),
            updatedAt: row.date(13))
    }

    /// Registers an endpoint. The URL's form is checked here; its destination by the caller's `DestinationPolicy`.
    /// - Parameter id: the endpoint's id (`ep_` + 1 to 64 letters or digits); a random one when `nil`.
    /// - Throws: `HooktopError.invalidInput` for a bad field or id, `conflict` when `id` is taken.
    package func addEndpoint(
        url: String, changes: EndpointChanges = EndpointChanges(), secret: String? = nil,
        allowPrivateDestination: Bool = false, id: String? = nil, now: Date = Date(), by actor: Principal
    ) throws -> Endpoint {
        let endpoint = try changes.newEndpoint(
            url: url, secret: secret, allowPrivateDestination: allowPrivateDestination, id: id, now: now)
        let secret = endpoint.secret
        let now = endpoint.createdAt
        try write { db in
            do {
                try db.run(
                    """
                    INSERT INTO endpoints (id, url, description, status, event_types, secret, max_in_flight,
                        timeout_ms, allow_private, created_at, updated_at, connection, rate_limit)
                    VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    [
                        .text(endpoint.id), .text(url), .text(endpoint.description),
                        .text(endpoint.eventTypes.joined(separator: ",")), .text(secret), .from(endpoint.maxInFlight),
                        .from(endpoint.timeoutMilliseconds), .int(allowPrivateDestination ? 1 : 0), .from(now),
                        .from(now), .text(endpoint.connection.stored), .from(endpoint.rateLimit),
                    ])
            } catch let error as SQLiteError where error.isKeyTaken {
                throw HooktopError(.conflict, "endpoint \(endpoint.id) already exists")
            }
            try Self.audit(db, "endpoint.add", "endpoint", endpoint.id, url, actor, now)
        }
        return endpoint
    }

    public func endpoint(id: String) throws -> Endpoint? {
        try read { db in
            try db.queryOne("SELECT \(Self.endpointColumns) FROM endpoints WHERE id = ?", [.text(id)], Self.endpoint)
        }
    }

    /// The endpoint, or a `notFound` error.
    public func requireEndpoint(id: String) throws -> Endpoint {
        guard let endpoint = try endpoint(id: id) else { throw HooktopError.notFound("endpoint", id) }
        return endpoint
    }

    /// Every endpoint, oldest first.
    public func endpoints() throws -> [Endpoint] {
        try read { db in
            try db.query("SELECT \(Self.endpointColumns) FROM endpoints ORDER BY created_at, id", [], Self.endpoint)
        }
    }

    /// Applies `changes` to an endpoint.
    func updateEndpoint(id: String, changes: EndpointChanges, now: Date = Date(), by actor: Principal) throws -> Endpoint {
        try changes.validate()
        try write { db in
            var connection: String?
            if changes.changesConnection {
                // Read and written in the same transaction: concurrent changes to other settings are kept.
                guard let stored = try db.queryOne("SELECT connection FROM endpoints WHERE id = ?", [.text(id)], { $0.text(0) })
                else { throw HooktopError.notFound("endpoint", id) }
                let applied = changes.applied(to: ConnectionSettings.fromStored(stored))
                guard applied.headers.count <= 50 else { throw HooktopError.invalid("at most 50 headers") }
                connection = applied.stored
            }
            let changed = try db.run(
                """
                UPDATE endpoints SET url = coalesce(?, url), description = coalesce(?, description),
                    event_types = coalesce(?, event_types), max_in_flight = coalesce(?, max_in_flight),
                    timeout_ms = coalesce(?, timeout_ms), connection = coalesce(?, connection),
                    rate_limit = CASE WHEN ? THEN ? ELSE rate_limit END, updated_at = ?
                WHERE id = ?
                """,
                [
                    .from(changes.url), .from(changes.description),
                    .from(changes.eventTypes?.joined(separator: ",")), .from(changes.maxInFlight),
                    .from(changes.timeoutMilliseconds), .from(connection), .int(changes.rateLimit == nil ? 0 : 1),
                    { if case .set(let limit)? = changes.rateLimit { return .from(limit) } else { return .null } }(),
                    .from(now), .text(id),
                ])
            guard changed == 1 else { throw HooktopError.notFound("endpoint", id) }
            try Self.audit(db, "endpoint.update", "endpoint", id, changes.auditSummary, actor, now)
        }
        return try requireEndpoint(id: id)
    }

    /// Deletes an endpoint with its deliveries and their attempts.
    func removeEndpoint(id: String, now: Date = Date(), by actor: Principal) throws {
        try write { db in
            guard try db.run("DELETE FROM endpoints WHERE id = ?", [.text(id)]) == 1 else {
                throw HooktopError.notFound("endpoint", id)
            }
            try Self.audit(db, "endpoint.remove", "endpoint", id, "", actor, now)
        }
    }

    /// Sets an endpoint's status, recording why. Returns `false` when it already had that status.
    @discardableResult
    func setEndpointStatus(
        id: String, _ status: EndpointStatus, reason: String?, action: String, refusing: EndpointStatus? = nil,
        advice: String = "", now: Date, by actor: Principal
    ) throws -> Bool {
        try write { db in
            guard let current = try db.queryOne("SELECT status FROM endpoints WHERE id = ?", [.text(id)], { $0.text(0) })
            else { throw HooktopError.notFound("endpoint", id) }
            if let refusing, current == refusing.rawValue {
                throw HooktopError(.conflict, "endpoint \(id) is \(current): \(advice)")
            }
            guard current != status.rawValue else { return false }
            try db.run(
                """
                UPDATE endpoints SET status = ?, disabled_reason = ?, disabled_at = ?, updated_at = ?,
                    failing_since = CASE WHEN ? = 'active' THEN NULL ELSE failing_since END
                WHERE id = ?
                """,
                [
                    .text(status.rawValue), status == .disabled ? .from(reason) : .null,
                    status == .disabled ? .from(now) : .null, .from(now), .text(status.rawValue), .text(id),
                ])
            try Self.audit(db, action, "endpoint", id, reason ?? "", actor, now)
            return true
        }
    }

    /// Replaces the signing secret; the previous one keeps signing (as a second signature) for `overlap`.
    func rotateSecret(
        endpointId: String, newSecret: String? = nil, overlap: TimeInterval = 86400, now: Date = Date(), by actor: Principal
    ) throws -> Endpoint {
        let secret = newSecret ?? WebhookSignature.generateSecret()
        _ = try WebhookSignature.key(fromSecret: secret)
        try write { db in
            let changed = try db.run(
                """
                UPDATE endpoints SET previous_secret = secret, previous_secret_expires_at = ?, secret = ?, updated_at = ?
                WHERE id = ?
                """, [.from(now.addingTimeInterval(overlap)), .text(secret), .from(now), .text(endpointId)])
            guard changed == 1 else { throw HooktopError.notFound("endpoint", endpointId) }
            try Self.audit(db, "endpoint.rotate_secret", "endpoint", endpointId, "", actor, now)
        }
        return try requireEndpoint(id: endpointId)
    }

    static func audit(
        _ db: Connection, _ action: String, _ objectType: String, _ objectId: String, _ detail: String,
        _ actor: Principal, _ now: Date
    ) throws {
        try db.run(
            """
            INSERT INTO audit (at, action, object_type, object_id, detail, os_user, pid, via, origin, tty)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [.from(now), .text(action), .text(objectType), .text(objectId), .text(detail), .text(actor.user),
             .from(actor.pid), .text(actor.via), .from(actor.origin), .from(actor.tty)])
    }
}

/// One row of the audit table.
public struct AuditEntry: Sendable, Equatable, Codable {
    public var at: Date
    public var action: String
    public var objectType: String
    public var objectId: String
    public var detail: String
    public var user: String
    public var pid: Int
    public var via: String
    /// The SSH client's address, nil for a local session.
    public var origin: String?
    public var tty: String?

    public init(
        at: Date, action: String, objectType: String, objectId: String, detail: String, user: String, pid: Int,
        via: String, origin: String? = nil, tty: String? = nil
    ) {
        self.at = at
        self.action = action
        self.objectType = objectType
        self.objectId = objectId
        self.detail = detail
        self.user = user
        self.pid = pid
        self.via = via
        self.origin = origin
        self.tty = tty
    }

    /// `alice (ssh 10.0.0.5 port 52311, /dev/pts/3) via dashboard`.
    public var who: String {
        let place = [origin, tty].compactMap { $0 }
        return user + (place.isEmpty ? "" : " (\(place.joined(separator: ", ")))") + " via " + via
    }
}

extension Store {
    /// The newest audit entries, optionally for one object.
    public func auditEntries(objectId: String? = nil, limit: Int = 100) throws -> [AuditEntry] {
        try read { db in
            try db.query(
                """
                SELECT at, action, object_type, object_id, detail, os_user, pid, via, origin, tty FROM audit
                WHERE (?1 IS NULL OR object_id = ?1) ORDER BY id DESC LIMIT ?2
                """, [.from(objectId), .from(limit)], Self.auditEntry)
        }
    }

    /// The newest action on each endpoint, by endpoint id (who paused it, and when).
    public func lastEndpointActions() throws -> [String: AuditEntry] {
        try read { db in try Self.lastEndpointActions(db) }
    }

    static func lastEndpointActions(_ db: Connection) throws -> [String: AuditEntry] {
        let entries = try db.query(
            """
            SELECT a.at, a.action, a.object_type, a.object_id, a.detail, a.os_user, a.pid, a.via, a.origin, a.tty
            FROM audit a
            JOIN (SELECT max(id) AS id FROM audit WHERE object_type = 'endpoint' GROUP BY object_id) newest
                ON a.id = newest.id
            """, [], Self.auditEntry)
        return Dictionary(entries.map { ($0.objectId, $0) }, uniquingKeysWith: { first, _ in first })
    }

    static func auditEntry(_ row: SQLiteRow) -> AuditEntry {
        AuditEntry(
            at: row.date(0), action: row.text(1), objectType: row.text(2), objectId: row.text(3), detail: row.text(4),
            user: row.text(5), pid: row.int(6), via: row.text(7), origin: row.optionalText(8), tty: row.optionalText(9))
    }
}

extension EndpointChanges {
    /// A new endpoint with these settings, checked: its URL's form, its id (`ep_` + 1 to 64 letters or digits; a
    /// random one when nil), its secret (a new one when nil). Times are whole milliseconds, as the log keeps them.
    func newEndpoint(url: String, secret: String?, allowPrivateDestination: Bool, id: String?, now: Date) throws -> Endpoint {
        var changes = self
        changes.url = url
        try changes.validate()
        if let id { try Identifier.validate(id, prefix: "ep") }
        let now = Date(milliseconds: now.milliseconds)
        let secret = secret ?? WebhookSignature.generateSecret()
        _ = try WebhookSignature.key(fromSecret: secret)
        return Endpoint(
            id: id ?? Identifier.make("ep"), url: url, description: changes.description ?? "",
            eventTypes: changes.eventTypes ?? [], secret: secret,
            maxInFlight: changes.maxInFlight ?? EndpointDefaults.maxInFlight,
            timeoutMilliseconds: changes.timeoutMilliseconds ?? EndpointDefaults.timeoutMilliseconds,
            allowPrivateDestination: allowPrivateDestination, connection: changes.applied(to: ConnectionSettings()),
            rateLimit: { if case .set(let limit)? = changes.rateLimit { return limit } else { return nil } }(),
            createdAt: now, updatedAt: now)
    }
}
