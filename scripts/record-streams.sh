#!/usr/bin/env bash
# Records the guacd streams the bench replays (bench/recordings/*.guac.gz)
# from the real test environment: an SSH session printing a lot, and a VNC
# desktop that keeps changing (a Tk window animated on the Xvnc display).
# Usage: bash scripts/record-streams.sh   (brings the test environment up if needed)
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json >/dev/null || true
started_env=0
if [ ! -f .test-env/env.json ]; then
  bash scripts/test-env.sh up
  started_env=1
fi
animator_pid=
cleanup() {
  [ -n "$animator_pid" ] && kill "$animator_pid" 2>/dev/null || true
  [ "$started_env" = 1 ] && bash scripts/test-env.sh down || true
}
trap cleanup EXIT

# guacd / ssh / vnc coordinates from the test environment, as shell variables.
eval "$(node -e '
  const e = JSON.parse(require("fs").readFileSync(".test-env/env.json", "utf8"));
  const q = (v) => "\x27" + String(v ?? "").replace(/\x27/g, "\x27\\\x27\x27") + "\x27";
  const out = {
    GUACD: `${e.guacd.host}:${e.guacd.port}`,
    SSH_HOST: e.ssh.host, SSH_PORT: e.ssh.port, SSH_USER: e.ssh.username, SSH_PASS: e.ssh.password,
    VNC_HOST: e.vnc.host, VNC_PORT: e.vnc.port, VNC_PASS: e.vnc.password, VNC_DISPLAY: e.vnc.display,
  };
  for (const [k, v] of Object.entries(out)) console.log(`${k}=${q(v)}`);
')"

# 1. SSH: a shell printing a lot: 200,000 lines of seq (guacd coalesces it into
# a few frames), a coloured listing, then real text files one after another.
node dist/bench/record.js --name ssh-seq --guacd "$GUACD" --protocol ssh \
  --param "hostname=$SSH_HOST" --param "port=$SSH_PORT" --param "username=$SSH_USER" --param "password=$SSH_PASS" \
  --type 'seq 1 200000; ls --color=always -la /usr/bin | tail -60; for f in /usr/share/doc/*/copyright; do cat $f; sleep 0.05; done\n' \
  --max-bytes $((2 << 20)) --max-ms 40000

# 2. VNC: a scrolling log and moving shapes redrawn 20 times a second.
display=${VNC_DISPLAY:-:$((VNC_PORT - 5900))}
DISPLAY="$display" python3 - 30 <<'PY' &
import sys, tkinter as tk, random, time
end = time.time() + float(sys.argv[1])
root = tk.Tk(); root.overrideredirect(True); root.geometry('1024x768+0+0')
log = tk.Text(root, width=70, height=48, font=('Monospace', 9), bg='#111', fg='#ddd')
log.place(x=0, y=0, width=560, height=768)
cv = tk.Canvas(root, bg='#fafafa', highlightthickness=0); cv.place(x=560, y=0, width=464, height=768)
rnd = random.Random(5)
shapes = [(cv.create_rectangle(0, 0, 60, 40, fill='#%06x' % rnd.randrange(1 << 24), outline=''), rnd.uniform(-6, 6), rnd.uniform(-6, 6)) for _ in range(12)]
bar = cv.create_rectangle(20, 720, 20, 740, fill='#3a7', outline='')
clock = cv.create_text(232, 690, font=('Sans', 20))
n = 0
def tick():
    global n
    if time.time() > end: root.destroy(); return
    for _ in range(8):
        n += 1; log.insert('end', f'{n:8d} {time.strftime("%H:%M:%S")} worker-{n % 7} processed batch {n * 37 % 1000:4d} ok\n')
    log.see('end')
    if n % 400 == 0: log.delete('1.0', '200.0')
    for s, dx, dy in shapes:
        x0, y0, x1, y1 = cv.coords(s)
        cv.move(s, dx if 0 < x0 + dx and x1 + dx < 464 else -dx, dy if 0 < y0 + dy and y1 + dy < 660 else -dy)
    cv.coords(bar, 20, 720, 20 + (n * 2) % 424, 740)
    cv.itemconfigure(clock, text=time.strftime('%H:%M:%S') + f'.{n % 100:02d}')
    root.after(50, tick)
root.after(50, tick); root.mainloop()
PY
animator_pid=$!
sleep 1
node dist/bench/record.js --name vnc-desktop --guacd "$GUACD" --protocol vnc \
  --param "hostname=$VNC_HOST" --param "port=$VNC_PORT" --param "password=$VNC_PASS" \
  --max-bytes $((2 << 20)) --max-ms 20000
ls -l bench/recordings
