import ArgumentParser
import DeliveryCore
import Foundation
import HooktopLab
import HooktopReceivers

struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fill a new database with a large, realistic delivery log (for benchmarks).")
    @OptionGroup var database: DatabaseOptions
    @Option(help: "Deliveries to create.") var deliveries = 1_000_000
    @Option(help: "Endpoints to create.") var endpoints = 50

    func run() async throws {
        try await reportingErrors {
            guard (1...50_000_000).contains(deliveries) else { throw HooktopError.invalid("--deliveries must be from 1 to 50000000") }
            guard (1...10_000).contains(endpoints) else { throw HooktopError.invalid("--endpoints must be from 1 to 10000") }
            guard !FileManager.default.fileExists(atPath: database.path) else {
                throw HooktopError.invalid("\(database.path) exists: seed fills a new database only")
            }
            let store = try database.openSQLite(create: true, for: "hooktop seed").store
            let started = ContinuousClock.now
            var lastReport = ContinuousClock.now
            try LogSeeder.seed(store, deliveries: deliveries, endpoints: endpoints) { made in
                if ContinuousClock.now - lastReport > .seconds(2) {
                    FileHandle.standardError.write(Data("seeded \(made) of \(deliveries) deliveries\n".utf8))
                    lastReport = ContinuousClock.now
                }
            }
            store.checkpoint()
            let elapsed = ContinuousClock.now - started
            printText("seeded \(deliveries) deliveries to \(endpoints) endpoints in \(elapsed.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1)))): \(database.path)")
        }
    }
}
