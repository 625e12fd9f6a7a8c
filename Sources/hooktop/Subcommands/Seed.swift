import ArgumentParser

struct Seed: AsyncParsableCommand {
    func run() async throws { fail("not available yet") }
}
