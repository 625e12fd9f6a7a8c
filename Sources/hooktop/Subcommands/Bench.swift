import ArgumentParser

struct Bench: AsyncParsableCommand {
    func run() async throws { fail("not available yet") }
}
