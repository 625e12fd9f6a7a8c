#!/usr/bin/env bash
# Screenshots of the real dashboard running `hooktop demo`, for the README, made fully offline:
# tmux (100x30, colours, UTF-8) → `capture-pane -e` → aha → HTML in DejaVu Sans Mono → chromium-headless-shell → PNG,
# and ImageMagick for an animated GIF of the same frames.
#
#   scripts/screenshots.sh            # writes screenshots/*.png and screenshots/demo.gif
#   WAIT=60 OUT=/tmp/shots scripts/screenshots.sh
#
# Needs: swift, tmux, aha, chromium-headless-shell, fonts-dejavu-core (imagemagick for the GIF). As root it installs
# the missing Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-screenshots}
WAIT=${WAIT:-40}          # seconds of demo traffic before the shots: retries, dead deliveries, a disabled endpoint
COLS=100
ROWS=30
FONT_PX=15                # DejaVu Sans Mono at 15 px: 9.04 px per column
LINE_PX=18
PAD=12

# --- tools ------------------------------------------------------------------------------------------------------
missing=()
command -v tmux >/dev/null || missing+=(tmux)
command -v aha >/dev/null || missing+=(aha)
command -v chromium-headless-shell >/dev/null || command -v chromium >/dev/null || missing+=(chromium-headless-shell)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf ] || missing+=(fonts-dejavu-core)
[ -x /usr/bin/convert ] || missing+=(imagemagick)
if ((${#missing[@]})); then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "screenshots.sh: missing packages: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
        exit 1
    fi
fi
if command -v chromium-headless-shell >/dev/null; then
    CHROME=(chromium-headless-shell)
else
    CHROME=(chromium --headless)
fi
# /usr/bin/convert is ImageMagick's; anything else earlier on PATH may not be.
CONVERT=/usr/bin/convert

# --- the demo under tmux -----------------------------------------------------------------------------------------
swift build --product hooktop
BIN="$(swift build --product hooktop --show-bin-path)/hooktop"
WORK=$(mktemp -d)
SOCKET="hooktop-shots-$$"
tmux_() { tmux -L "$SOCKET" "$@"; }
cleanup() {
    local socket_path
    socket_path=$(tmux_ display-message -p '#{socket_path}' 2>/dev/null || true)
    tmux_ kill-server 2>/dev/null || true
    [ -n "$socket_path" ] && rm -f "$socket_path"
    rm -rf "$WORK"
}
trap cleanup EXIT

tmux_ -f /dev/null new-session -d -s demo -x "$COLS" -y "$ROWS" \
    -e LANG=C.UTF-8 -e NO_COLOR= "'$BIN' demo --db '$WORK/hooktop.db'"
tmux_ set-option -t demo status off >/dev/null

# Waits (at most $2 seconds, default 15) until the pane shows $1.
wait_for() {
    local text=$1 limit=${2:-15} i
    for ((i = 0; i < limit * 10; i++)); do
        tmux_ capture-pane -p -t demo | grep -qF -- "$text" && return 0
        sleep 0.1
    done
    echo "screenshots.sh: '$text' did not appear; the screen:" >&2
    tmux_ capture-pane -p -t demo >&2
    exit 1
}

wait_for "1 Endpoints"
echo "demo running; letting it deliver, retry and fail for ${WAIT}s…"
sleep "$WAIT"

# --- one PNG per screen ------------------------------------------------------------------------------------------
mkdir -p "$OUT"
WIDTH=$(( (COLS * 904 + 99) / 100 + 2 * PAD ))
HEIGHT=$(( ROWS * LINE_PX + 2 * PAD ))

shot() {
    local name=$1 html="$WORK/$1.html"
    sleep 0.6  # let the next refresh land so the frame is settled
    # -N keeps trailing spaces, so highlighted rows and column titles span the full width.
    tmux_ capture-pane -p -e -N -t demo | aha --black --title "hooktop: $name" >"$html"
    # A monospace font with the box-drawing and block glyphs, exact cell metrics, no margins.
    sed -i "s|<pre>|<pre style=\"font-family: 'DejaVu Sans Mono', monospace; font-size: ${FONT_PX}px; \
line-height: ${LINE_PX}px; margin: 0; padding: ${PAD}px; font-variant-ligatures: none;\">|; \
s|<body[^>]*>|<body style=\"margin: 0; background: #1b1d23; color: #dcdfe4;\">|" "$html"
    # aha paints black text grey (for --black) and uses pure CSS colours: give it a softer terminal palette.
    sed -i -e 's/color:dimgray;background-color/color:#1b1d23;background-color/g' \
        -e 's/background-color:lime/background-color:#98c379/g; s/background-color:aqua/background-color:#56b6c2/g' \
        -e 's/background-color:red/background-color:#e06c75/g; s/background-color:black/background-color:#1b1d23/g' \
        -e 's/color:lime/color:#98c379/g; s/color:aqua/color:#56b6c2/g; s/color:red/color:#e06c75/g' \
        -e 's/color:yellow/color:#e5c07b/g; s/color:dimgray/color:#7f848e/g; s/color:white/color:#ffffff/g' "$html"
    "${CHROME[@]}" --no-sandbox --hide-scrollbars --disable-gpu --force-device-scale-factor=1 \
        --window-size="$WIDTH,$HEIGHT" --screenshot="$OUT/$name.png" "file://$html" >/dev/null 2>&1
    echo "  $OUT/$name.png"
}

tmux_ send-keys -t demo 1
wait_for "OK 5m"
shot endpoints

# g: the newest row selected (the selection otherwise follows its row down as new ones arrive)
tmux_ send-keys -t demo 2 g
wait_for "RESULT"
shot deliveries

tmux_ send-keys -t demo 3
wait_for "FAILURE"
shot failures

tmux_ send-keys -t demo 4 g
wait_for "LAST RESULT"
shot retry-queue

# The detail of a failing delivery: expand the largest failure group, open its newest delivery.
tmux_ send-keys -t demo 3 Enter
wait_for "▾"
sleep 0.5
tmux_ send-keys -t demo j Enter
wait_for "ATTEMPTS"
shot detail

tmux_ send-keys -t demo Escape 1 '?'
wait_for "Keys"
shot help
tmux_ send-keys -t demo Escape

# Who did what: every action of the demo (endpoints added, the one that answered 410 Gone disabled by the dispatcher).
tmux_ send-keys -t demo 2 A
wait_for "Audit"
shot audit
tmux_ send-keys -t demo Escape

# What serve would have sent: endpoints failing and disabled, dead deliveries (the demo records them, unsent).
tmux_ send-keys -t demo '!'
wait_for "Alerts"
shot alerts
tmux_ send-keys -t demo Escape

# --- a GIF of the same frames ------------------------------------------------------------------------------------
if [ -x "$CONVERT" ]; then
    "$CONVERT" -delay 180 -loop 0 \
        "$OUT/endpoints.png" "$OUT/deliveries.png" "$OUT/failures.png" "$OUT/retry-queue.png" \
        "$OUT/detail.png" "$OUT/help.png" "$OUT/audit.png" "$OUT/alerts.png" -layers Optimize "$OUT/demo.gif"
    echo "  $OUT/demo.gif"
fi

tmux_ send-keys -t demo q
