import Foundation
import PostgresNIO

/// API tokens by digest (see `APITokenLog`): every `serve` on the database reads them every second.
extension PostgresEngine {
    /// See `APITokenLog.makeFirstAPIToken`: under a transaction-scoped advisory lock, so that of several processes
    /// starting at once one makes it.
    public func makeFirstAPIToken(now: Date, by actor: Principal) async throws -> IssuedAPIToken? {
        try await write { connection in
            try await execute(
                "SELECT pg_advisory_xact_lock(\(PostgresSchema.lockNamespace), 3)", on: connection)
            guard try await rows("SELECT 1 FROM api_tokens WHERE revoked_at IS NULL LIMIT 1", on: connection).isEmpty
            else { return nil }
            return try await insertToken(name: "first", now: now, by: actor, on: connection)
        }
    }

    public func apiTokenDigests() async throws -> Set<String> {
        Set(try await rows("SELECT digest FROM api_tokens WHERE revoked_at IS NULL").map { try $0.text(0) })
    }

    public func apiTokens() async throws -> [APIToken] {
        try await rows(
            "SELECT id, name, created_at, created_by, revoked_at FROM api_tokens ORDER BY created_at, id"
        ).map {
            APIToken(
                id: try $0.text(0), name: try $0.text(1), createdAt: try $0.date(2), createdBy: try $0.text(3),
                revokedAt: try $0.optionalDate(4))
        }
    }

    public func createAPIToken(name: String, now: Date, by actor: Principal) async throws -> IssuedAPIToken {
        try await write { connection in try await insertToken(name: name, now: now, by: actor, on: connection) }
    }

    public func revokeAPIToken(id: String, now: Date, by actor: Principal) async throws -> Bool {
        try await write { connection in
            guard
                let row = try await rows(
                    "SELECT name, revoked_at IS NOT NULL FROM api_tokens WHERE id = \(id) FOR UPDATE", on: connection
                ).first
            else { throw HooktopError.notFound("token", id) }
            guard try !row.bool(1) else { return false }
            try await execute(
                "UPDATE api_tokens SET revoked_at = \(now.milliseconds) WHERE id = \(id)", on: connection)
            try await audit(connection, "token.revoke", "token", id, try row.text(0), actor, now)
            return true
        }
    }

    /// Records a new token by its digest, audited.
    private func insertToken(name: String, now: Date, by actor: Principal, on connection: PostgresConnection)
        async throws -> IssuedAPIToken
    {
        let secret = APIToken.makeSecret()
        let token = APIToken(
            id: APIToken.makeId(), name: name, createdAt: Date(milliseconds: now.milliseconds),
            createdBy: APIToken.creator(actor))
        try await execute(
            """
            INSERT INTO api_tokens (id, digest, name, created_at, created_by)
            VALUES (\(token.id), \(APITokenDigest.hex(of: secret)), \(name), \(now.milliseconds), \(token.createdBy))
            """, on: connection)
        try await audit(connection, "token.create", "token", token.id, name, actor, now)
        return IssuedAPIToken(token: token, secret: secret)
    }
}
