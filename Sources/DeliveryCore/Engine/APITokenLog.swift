import Foundation

/// The API tokens a log keeps, by SHA-256 digest (`APITokenDigest`): every `serve` on the log accepts each token in
/// force, and reads them again every second, so that a token made or revoked by any process counts everywhere at once.
/// Making and revoking tokens are operator actions: audited, in the same transaction.
public protocol APITokenLog: Sendable {
    /// Makes the log's first token when none is in force, for `serve` to show once (of several processes starting
    /// at once, one makes it). A SQLite log first takes in the token file beside it (`hooktop.db.token`, written by
    /// earlier versions) and writes a token it makes into that file too (mode 0600).
    /// - Returns: the new token; nil when one is in force.
    func makeFirstAPIToken(now: Date, by actor: Principal) async throws -> IssuedAPIToken?
    /// The digests of the tokens in force (lowercase hex).
    func apiTokenDigests() async throws -> Set<String>
    /// Every token, revoked ones included, oldest first.
    func apiTokens() async throws -> [APIToken]
    /// Makes a token called `name`, audited.
    func createAPIToken(name: String, now: Date, by actor: Principal) async throws -> IssuedAPIToken
    /// Revokes a token, audited.
    /// - Returns: false when it was already revoked.
    /// - Throws: `HooktopError.notFound` for an unknown id.
    @discardableResult
    func revokeAPIToken(id: String, now: Date, by actor: Principal) async throws -> Bool
}
