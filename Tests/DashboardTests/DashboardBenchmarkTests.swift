import Dashboard
import DeliveryCore
import Foundation
import HooktopLab
import Testing

/// `hooktop bench-dashboard`'s measurements on the fixture log.
@Suite struct DashboardBenchmarkTests {
    @Test func measuresEveryViewTheDetailAndIdle() async throws {
        let benchmark = DashboardBenchmark(frames: 3, width: 80, height: 24, idleSeconds: 0.3)
        let result = await benchmark.run(log: FixtureLog(), options: Fixture.options())
        #expect(result.firstPaintMilliseconds > 0)
        #expect(result.views.map(\.name) == ViewKind.allCases.map(\.title) + ["Detail"])
        #expect(result.views.allSatisfy { $0.frame.max >= $0.frame.p95 && $0.frame.p95 >= $0.frame.p50 })
        #expect(result.views.first?.rows == 6)
        #expect(result.endpoints == 6)
        let idle = try #require(result.idle)
        #expect(idle.seconds >= 0.3)
        // Idle means no redrawing beyond the clock's once a second. (The process's CPU time includes whatever other
        // tests run meanwhile: the idle CPU target is shown by `hooktop bench-dashboard` in the README, not here.)
        #expect(idle.framesDrawn <= Int(idle.seconds) + 2)
        #expect(idle.percentOfCore.isFinite)
    }

    @Test func percentiles() {
        let p = DashboardBenchmark.Percentiles((1...100).map(Double.init))
        #expect(p.p50 == 51 || p.p50 == 50)
        #expect(p.p95 == 95 || p.p95 == 96)
        #expect(p.max == 100)
        #expect(DashboardBenchmark.Percentiles([]).max == 0)
    }
}
