import DeliveryCore
import HooktopTesting

/// Runs `body` with `count` engines on one new database, as many processes would have (a pool each), the URL given
/// `poll_only` when asked; closes them afterwards.
func withPostgresEngines<T: Sendable>(
    _ count: Int, pollOnly: Bool = false, _ body: (PostgresURL, [PostgresEngine]) async throws -> T
) async throws -> T {
    try await PostgresServer.shared.withDatabase { url in
        var url = url
        url.pollOnly = pollOnly
        var engines: [PostgresEngine] = []
        let outcome: Result<T, any Error>
        do {
            for _ in 0..<count { engines.append(try await PostgresEngine.open(url, logger: quietLogger)) }
            outcome = .success(try await body(url, engines))
        } catch {
            outcome = .failure(error)
        }
        for engine in engines { await engine.close() }
        return try outcome.get()
    }
}
