import Foundation

/// An API token as a log keeps it: what it is called and by whom it was made, never the token itself (only its
/// SHA-256 digest is stored, see `APITokenDigest`).
public struct APIToken: Sendable, Equatable {
    /// `tok_…`: what `hooktop token revoke` takes.
    public var id: String
    /// What the operator called it (`ci`, `billing-service`); may be empty.
    public var name: String
    public var createdAt: Date
    /// Who made it: `alice (cli)`, `hooktop serve` for a log's first token.
    public var createdBy: String
    /// When it was revoked; nil while it is in force.
    public var revokedAt: Date?

    public init(id: String, name: String, createdAt: Date, createdBy: String, revokedAt: Date? = nil) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.revokedAt = revokedAt
    }

    /// Longest name a token may have, in characters.
    public static let maxNameLength = 100

    /// Checks a name given by an operator: one line of at most `maxNameLength` printable characters.
    /// - Throws: `HooktopError.invalidInput` saying what a name may be.
    public static func validate(name: String) throws {
        let control = name.unicodeScalars.contains { $0.properties.generalCategory == .control }
        guard name.count <= maxNameLength, !control else {
            throw HooktopError.invalid("a token name is one line of at most \(maxNameLength) printable characters")
        }
    }

    /// A new random token: `htk_` and 40 letters or digits (238 bits).
    static func makeSecret() -> String { Identifier.make("htk", length: 40) }

    /// A new token id.
    static func makeId() -> String { Identifier.make("tok", length: 12) }

    /// How the audit and `token list` name the operator who made a token.
    static func creator(_ actor: Principal) -> String { "\(actor.user) (\(actor.via))" }
}

/// A token just made: shown once, then only its digest is kept.
public struct IssuedAPIToken: Sendable, Equatable {
    public var token: APIToken
    /// The bearer token itself.
    public var secret: String
    /// A file the token was also written to (a SQLite log's first token, `hooktop.db.token`), if any.
    public var file: String?

    public init(token: APIToken, secret: String, file: String? = nil) {
        self.token = token
        self.secret = secret
        self.file = file
    }
}
