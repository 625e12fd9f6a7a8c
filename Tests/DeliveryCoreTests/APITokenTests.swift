@testable import DeliveryCore
import Foundation
import HooktopTesting
import Testing

/// The engines a log can be in, for tests that run on each.
enum EngineKind: String, CaseIterable, Sendable {
    case sqlite, postgres

    /// Runs `body` on a new, empty log of this engine.
    func withEngine<T: Sendable>(_ body: (any DeliveryEngine) async throws -> T) async throws -> T {
        switch self {
        case .sqlite:
            let database = try TemporaryDatabase()
            return try await body(SQLiteEngine(store: database.store))
        case .postgres:
            return try await withPostgresEngine { try await body($0) }
        }
    }
}

/// API tokens kept by digest, made and revoked through `Operations`, on both engines.
struct APITokenTests {
    /// The digest is SHA-256 in lowercase hex (FIPS 180-2's test vectors), as PostgreSQL's `sha256()` and
    /// `sha256sum` write it: a log's digests do not depend on which process stored them.
    @Test func digestIsSHA256InLowercaseHex() {
        #expect(APITokenDigest.hex(of: "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(APITokenDigest.hex(of: "") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            APITokenDigest.hex(of: "htk_é\u{0}x") == "46f01a4634dd56835b0e7159620bb9ee4dd1b80cb86c59e220ade111f62951a6")
    }

    @Test(arguments: EngineKind.allCases)
    func tokensAreMadeListedAndRevokedByDigest(engine kind: EngineKind) async throws {
        try await kind.withEngine { engine in
            let operations = Operations(engine: engine)
            let first = try #require(try await engine.makeFirstAPIToken(now: Date(), by: testActor))
            #expect(first.secret.hasPrefix("htk_") && first.secret.count == 44)
            #expect(first.token.name == "first" && first.token.createdBy == "tester (test)")
            #expect(try await engine.makeFirstAPIToken(now: Date(), by: testActor) == nil, "one is in force")

            let ci = try await operations.createToken(name: "ci", by: testActor)
            #expect(ci.file == nil)
            #expect(try await engine.apiTokenDigests() == [APITokenDigest.hex(of: first.secret), APITokenDigest.hex(of: ci.secret)])
            #expect(try await engine.apiTokens() == [first.token, ci.token])

            #expect(try await operations.revokeToken(id: ci.token.id, by: testActor))
            #expect(try await engine.apiTokenDigests() == [APITokenDigest.hex(of: first.secret)])
            let listed = try await engine.apiTokens()
            #expect(listed.map(\.id) == [first.token.id, ci.token.id])
            #expect(listed[0].revokedAt == nil && listed[1].revokedAt != nil)
            #expect(try await operations.revokeToken(id: ci.token.id, by: testActor) == false, "already revoked")
            let unknown = await #expect(throws: HooktopError.self) {
                try await operations.revokeToken(id: "tok_nope", by: testActor)
            }
            #expect(unknown?.message == "token tok_nope not found")
            let badName = await #expect(throws: HooktopError.self) {
                try await operations.createToken(name: "two\nlines", by: testActor)
            }
            #expect(badName?.code == .invalidInput)

            let audit = try await engine.auditEntries(objectId: nil, limit: 10).map { "\($0.action) \($0.objectId) \($0.detail)" }
            #expect(audit == [
                "token.revoke \(ci.token.id) ci", "token.create \(ci.token.id) ci", "token.create \(first.token.id) first",
            ])

            // With none in force, the next serve makes one again.
            try await operations.revokeToken(id: first.token.id, by: testActor)
            #expect(try await engine.apiTokenDigests().isEmpty)
            let again = try #require(try await engine.makeFirstAPIToken(now: Date(), by: testActor))
            #expect(try await engine.apiTokenDigests() == [APITokenDigest.hex(of: again.secret)])
        }
    }

    @Test func aSQLiteLogsFirstTokenIsAlsoWrittenToItsTokenFile() async throws {
        let database = try TemporaryDatabase()
        let engine = SQLiteEngine(store: database.store)
        let first = try #require(try await engine.makeFirstAPIToken(now: Date(), by: testActor))
        let file = database.path + ".token"
        #expect(first.file == file)
        #expect(try String(contentsOfFile: file, encoding: .utf8) == first.secret + "\n")
        #expect(try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int == 0o600)

        // Revoked, and none left in force: the next first token replaces the file's.
        try await engine.revokeAPIToken(id: first.token.id, now: Date(), by: testActor)
        let next = try #require(try await engine.makeFirstAPIToken(now: Date(), by: testActor))
        #expect(try String(contentsOfFile: file, encoding: .utf8) == next.secret + "\n")
        #expect(try await engine.apiTokenDigests() == [APITokenDigest.hex(of: next.secret)])
        #expect(try FileManager.default.contentsOfDirectory(atPath: database.directory).filter { $0.contains(".tmp_") }.isEmpty)
    }

    @Test func theTokenFileOfAnOlderLogIsTakenInWhenItIsUpgraded() async throws {
        let old = try OldDatabase(version: Schema.apiTokensVersion - 1)
        defer { old.remove() }
        let legacy = "htk_" + String(repeating: "L", count: 40)
        try (legacy + "\n").write(toFile: old.path + ".token", atomically: false, encoding: .utf8)
        let engine = SQLiteEngine(store: try Store(path: old.path))
        #expect(try await engine.apiTokenDigests() == [APITokenDigest.hex(of: legacy)])
        let token = try #require(try await engine.apiTokens().first)
        #expect(token.name == "v\(Schema.apiTokensVersion - 1).db.token" && token.createdBy == "token file")
        #expect(try await engine.makeFirstAPIToken(now: Date(), by: testActor) == nil, "the file's token is in force")
        #expect(try String(contentsOfFile: old.path + ".token", encoding: .utf8) == legacy + "\n")

        // Revoked, it stays revoked: the file is not taken in again.
        try await engine.revokeAPIToken(id: token.id, now: Date(), by: testActor)
        let replacement = try #require(try await engine.makeFirstAPIToken(now: Date(), by: testActor))
        #expect(try await engine.apiTokenDigests() == [APITokenDigest.hex(of: replacement.secret)])
    }

    @Test func aTokenFileWrittenAfterTheUpgradeIsTakenInByServe() async throws {
        let database = try TemporaryDatabase()
        let engine = SQLiteEngine(store: database.store)
        let copied = "htk_" + String(repeating: "C", count: 40)
        try (copied + "\n").write(toFile: database.path + ".token", atomically: false, encoding: .utf8)
        #expect(try await engine.makeFirstAPIToken(now: Date(), by: testActor) == nil)
        #expect(try await engine.apiTokenDigests() == [APITokenDigest.hex(of: copied)])
    }
}
