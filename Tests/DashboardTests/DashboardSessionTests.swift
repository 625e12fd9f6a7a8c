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

    /// In a delivery's detail, `o` hands the request as signed (the envelope, exactly) and the response to the pager,
    /// and `y` copies the delivery's id.
    @Test func theDetailOpensInThePagerAndCopiesItsId() async throws {
        let log = FixtureLog()
        let screen = InMemoryScreen(width: 100, height: 30, keys: [.char("2")])
        var step = 0
        var idle = 0
        screen.onIdle = { screen in
            idle += 1
            Thread.sleep(forTimeInterval: 0.005)
            let text = screen.lastFrameText
            switch step {
            case 0 where text.contains("RESULT") && text.contains("delivered"):
                screen.keys.append(.enter)
                step = 1
            case 1 where text.contains("REQUEST") && text.contains("as signed"):
                screen.keys += [.char("o"), .char("y")]
                step = 2
            case 2 where !screen.copied.isEmpty:
                screen.keys.append(.char("q"))
                step = 3
            default:
                if idle > 3000 { screen.quitSignal = true }
            }
        }
        let session = DashboardSession(log: log, options: Fixture.options(), screen: screen, clock: { FixtureLog.now })
        await onOwnThread { session.run() }
        let detail = try #require(session.state.detailData)
        let envelope = WebhookSender.body(for: detail.message)
        #expect(screen.paged.count == 1)
        let paged = try #require(screen.paged.first)
        #expect(paged.contains("\n" + envelope + "\n"), "\(paged)")
        #expect(paged.contains("\(envelope.utf8.count) bytes signed"))
        #expect(paged.contains("REQUEST"))
        #expect(screen.copied == [Identifier.formatDeliveryID(detail.delivery.id)])
    }

    @Test func quitSignalEndsTheLoop() {
        let screen = InMemoryScreen(width: 80, height: 24)
        screen.quitSignal = true
        let session = DashboardSession(
            log: FixtureLog(), options: Fixture.options(), screen: screen, clock: { FixtureLog.now })
        session.run()
        #expect(!session.state.quitting)  // left by the signal, not by a key
    }

    @Test func mouseClickSelectsAndWheelScrolls() async {
        var state = await Fixture.state(view: .deliveries)
        state.press(.mouseClick(x: 10, y: DashboardState.headerHeight + 1 + 3))
        #expect(state.list.selectedIndex == 3)
        state.press(.wheelDown)
        #expect(state.list.selectedIndex == 6)
        state.press(.wheelUp)
        #expect(state.list.selectedIndex == 3)
    }
}
