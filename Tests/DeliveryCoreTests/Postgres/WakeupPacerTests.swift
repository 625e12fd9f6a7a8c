@testable import DeliveryCore
import Testing

/// The pacing of wake-up notifications, without a database: the first at once, at most one per window, and work
/// committed within a window covered by one send at its end.
struct WakeupPacerTests {
    let start = ContinuousClock.now

    func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }

    @Test func aLoneCommitSendsAtOnce() {
        var pacer = WakeupPacer(window: .milliseconds(100))
        #expect(pacer.workCommitted(now: at(0)) == .sendNow)
        // Past the window, the next is again at once.
        #expect(pacer.workCommitted(now: at(150)) == .sendNow)
        #expect(pacer.workCommitted(now: at(400)) == .sendNow)
    }

    @Test func commitsWithinAWindowShareOneSendAtItsEnd() {
        var pacer = WakeupPacer(window: .milliseconds(100))
        #expect(pacer.workCommitted(now: at(0)) == .sendNow)
        #expect(pacer.workCommitted(now: at(10)) == .sendAt(at(100)))
        for milliseconds in stride(from: 20, to: 100, by: 10) {
            #expect(pacer.workCommitted(now: at(milliseconds)) == WakeupPacer.Action.none)
        }
        // The scheduled send begins at 100 ms: work committed from then on needs the next window's send.
        pacer.scheduledSendBegins()
        #expect(pacer.workCommitted(now: at(120)) == .sendAt(at(200)))
        #expect(pacer.workCommitted(now: at(150)) == WakeupPacer.Action.none)
        pacer.scheduledSendBegins()
        // A quiet spell after the window: at once again.
        #expect(pacer.workCommitted(now: at(500)) == .sendNow)
    }

    @Test func aLongBurstSendsOncePerWindow() {
        var pacer = WakeupPacer(window: .milliseconds(100))
        var sends: [Int] = []
        var scheduled: Int?
        // A commit every millisecond for two seconds; a scheduled send goes when its time comes.
        for milliseconds in 0..<2000 {
            if let due = scheduled, milliseconds >= due {
                pacer.scheduledSendBegins()
                sends.append(due)
                scheduled = nil
            }
            switch pacer.workCommitted(now: at(milliseconds)) {
            case .none: break
            case .sendNow: sends.append(milliseconds)
            case .sendAt(let instant): scheduled = Int((instant - start) / .milliseconds(1))
            }
        }
        if let scheduled { sends.append(scheduled) }
        #expect(sends == Array(stride(from: 0, through: 2000, by: 100)))
    }
}
