import Dashboard
import DeliveryCore
import Foundation
import HooktopTesting
import Testing

/// The UI loop end to end with an in-memory screen: background loading, an action through the operations, quit.
@Suite struct DashboardSessionTests {
    @Test func loadsPausesAndQuits() async {
        let log = FixtureLog()
        let screen = InMemoryScreen(width: 100, height: 30)
        var idle = 0
        var pressed = false
        screen.onIdle = { screen in
            idle += 1
            Thread.sleep(forTimeInterval: 0.005)
            let text = screen.lastFrameText
            if !pressed, text.contains("Billing") {
                pressed = true
                screen.keys.append(.char("p"))
            }
            if log.actions.contains("pause ep_billing"), text.contains("paused Billing") || idle > 1500 {
                screen.keys.append(.char("q"))
            }
            if idle > 2000 { screen.quitSignal = true }
        }
        let session = DashboardSession(log: log, options: Fixture.options(), screen: screen, clock: { FixtureLog.now })
        // The loop blocks its thread, as it does on the terminal; the pause runs meanwhile on the cooperative pool.
        await onOwnThread { session.run() }
        #expect(log.actions == ["pause ep_billing"])
        #expect(screen.lastFrameText.contains("paused Billing"))
        #expect(session.state.quitting)
        // Drawn only when something changed: far fewer frames than loop turns.
        #expect(screen.frames.count < idle)
    }

    @Test func quitSignalEndsTheLoop() {
        let screen = InMemoryScreen(width: 80, height: 24)
        screen.quitSignal = true
        let session = DashboardSession(
            log: FixtureLog(), options: Fixture.options(), screen: screen, clock: { FixtureLog.now })
        session.run()
        #expect(!session.state.quitting)  // left by the signal, not by a key
    }

    @Test func mouseClickSelectsAndWheelScrolls() {
        var state = Fixture.state(view: .deliveries)
        state.press(.mouseClick(x: 10, y: DashboardState.headerHeight + 1 + 3))
        #expect(state.list.selectedIndex == 3)
        state.press(.wheelDown)
        #expect(state.list.selectedIndex == 6)
        state.press(.wheelUp)
        #expect(state.list.selectedIndex == 3)
    }
}
