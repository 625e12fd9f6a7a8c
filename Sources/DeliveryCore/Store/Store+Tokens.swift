import Foundation

/// API tokens by digest (see `APITokenLog`), and the token file earlier versions kept beside the database.
extension Store {
    /// `<database>.token`: where earlier versions kept the log's one token, and where the first token made now is
    /// written too (mode 0600), so that `cat hooktop.db.token` shows it.
    var tokenFilePath: String { path + ".token" }

    /// Takes in the token of the file beside the database as a token in force, unless the log already knows its
    /// digest (in force or revoked: a revoked file token stays revoked). A file too short to hold a token is left
    /// alone (`makeFirstAPIToken` replaces it).
    static func importTokenFile(_ db: Connection, databasePath: String, now: Date) throws {
        let file = databasePath + ".token"
        guard let data = FileManager.default.contents(atPath: file) else { return }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.count >= 16 else { return }
        let digest = APITokenDigest.hex(of: token)
        guard try db.queryOne("SELECT 1 FROM api_tokens WHERE digest = ?", [.text(digest)], { _ in true }) == nil else {
            return
        }
        let madeAt = (try? FileManager.default.attributesOfItem(atPath: file)[.modificationDate] as? Date) ?? now
        try db.run(
            "INSERT INTO api_tokens (id, digest, name, created_at, created_by) VALUES (?, ?, ?, ?, 'token file')",
            [.text(APIToken.makeId()), .text(digest), .text((file as NSString).lastPathComponent), .from(madeAt)])
    }

    func makeFirstAPIToken(now: Date, by actor: Principal) throws -> IssuedAPIToken? {
        try write { db in
            try Self.importTokenFile(db, databasePath: path, now: now)
            guard try db.queryOne("SELECT 1 FROM api_tokens WHERE revoked_at IS NULL LIMIT 1", [], { _ in true }) == nil
            else { return nil }
            var issued = try Self.insertToken(db, name: "first", now: now, by: actor)
            // Written before the commit: a token the file does not hold is never the only one.
            try Self.writeTokenFile(issued.secret, to: tokenFilePath)
            issued.file = tokenFilePath
            return issued
        }
    }

    func apiTokenDigests() throws -> Set<String> {
        try read { db in Set(try db.query("SELECT digest FROM api_tokens WHERE revoked_at IS NULL") { $0.text(0) }) }
    }

    func apiTokens() throws -> [APIToken] {
        try read { db in
            try db.query(
                "SELECT id, name, created_at, created_by, revoked_at FROM api_tokens ORDER BY created_at, id"
            ) {
                APIToken(
                    id: $0.text(0), name: $0.text(1), createdAt: $0.date(2), createdBy: $0.text(3),
                    revokedAt: $0.optionalDate(4))
            }
        }
    }

    func createAPIToken(name: String, now: Date, by actor: Principal) throws -> IssuedAPIToken {
        try write { db in try Self.insertToken(db, name: name, now: now, by: actor) }
    }

    func revokeAPIToken(id: String, now: Date, by actor: Principal) throws -> Bool {
        try write { db in
            guard
                let (name, revoked) = try db.queryOne(
                    "SELECT name, revoked_at IS NOT NULL FROM api_tokens WHERE id = ?", [.text(id)],
                    { ($0.text(0), $0.int(1) != 0) })
            else { throw HooktopError.notFound("token", id) }
            guard !revoked else { return false }
            try db.run("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", [.from(now), .text(id)])
            try Self.audit(db, "token.revoke", "token", id, name, actor, now)
            return true
        }
    }

    /// Records a new token by its digest, audited.
    private static func insertToken(_ db: Connection, name: String, now: Date, by actor: Principal) throws
        -> IssuedAPIToken
    {
        let secret = APIToken.makeSecret()
        let token = APIToken(
            id: APIToken.makeId(), name: name, createdAt: Date(milliseconds: now.milliseconds),
            createdBy: APIToken.creator(actor))
        try db.run(
            "INSERT INTO api_tokens (id, digest, name, created_at, created_by) VALUES (?, ?, ?, ?, ?)",
            [.text(token.id), .text(APITokenDigest.hex(of: secret)), .text(name), .from(now), .text(token.createdBy)])
        try audit(db, "token.create", "token", token.id, name, actor, now)
        return IssuedAPIToken(token: token, secret: secret)
    }

    /// Writes `token` into `path` with mode 0600, replacing what was there in one step (a new file renamed over it).
    private static func writeTokenFile(_ token: String, to path: String) throws {
        let temporary = path + "." + Identifier.make("tmp", length: 8)
        let fd = open(temporary, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw HooktopError(.database, "cannot create token file \(path): \(String(cString: strerror(errno)))")
        }
        let file = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        do {
            try file.write(contentsOf: Data((token + "\n").utf8))
            try file.synchronize()
            try file.close()
            guard rename(temporary, path) == 0 else { throw HooktopError(.database, String(cString: strerror(errno))) }
        } catch {
            unlink(temporary)
            let reason = (error as? HooktopError)?.message ?? error.localizedDescription
            throw HooktopError(.database, "cannot write token file \(path): \(reason)")
        }
    }
}
