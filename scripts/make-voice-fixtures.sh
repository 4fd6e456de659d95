#!/usr/bin/env bash
# Generates tether's multi-speaker voice fixtures: test/fixtures/voices/{voice}_{n}.wav
#
# Six synthetic voices from Debian's text-to-speech packages, each speaking the same four
# sentences, so that "same voice" and "different voice" pairs differ by speaker, not by
# what is said. Every file is PCM16 mono 16 kHz, edge silence trimmed, peak-normalised to
# -3 dBFS, at most 3 seconds long.
#
# Used by the speaker-extraction tests and by `npm run bench` (equal error rate of the
# built-in embedding). CI never runs this script: the generated WAVs are committed.
#
# Needs (Debian/Ubuntu, as root):
#   apt-get update && apt-get install -y espeak-ng festival festvox-kallpc16k \
#     festvox-kdlpc16k festvox-us-slt-hts sox
#
# Usage: scripts/make-voice-fixtures.sh [output-dir]
set -euo pipefail

out_dir="${1:-$(cd "$(dirname "$0")/.." && pwd)/test/fixtures/voices}"
mkdir -p "$out_dir"

for tool in espeak-ng text2wave sox; do
  command -v "$tool" >/dev/null || { echo "missing $tool: see the apt-get line at the top of $0" >&2; exit 1; }
done

sentences=(
  "Please call Stella and ask her to bring these things with her from the store."
  "The morning train was late again, so we walked along the river to the office."
  "I think the meeting went well, but we still need a budget for next quarter."
  "Could you read the last number back to me, slowly, one digit at a time?"
)

# voice id -> synthesiser command prefix (text is appended; output goes to $raw)
synthesise() {
  local voice="$1" text="$2" raw="$3"
  case "$voice" in
    kal) printf '%s\n' "$text" | text2wave -eval "(voice_kal_diphone)" -o "$raw" ;;
    ked) printf '%s\n' "$text" | text2wave -eval "(voice_ked_diphone)" -o "$raw" ;;
    slt) printf '%s\n' "$text" | text2wave -eval "(voice_cmu_us_slt_arctic_hts)" -o "$raw" ;;
    esp-us-m3) espeak-ng -v en-us+m3 -s 165 -w "$raw" "$text" ;;
    esp-rp-f2) espeak-ng -v en-gb-x-rp+f2 -s 160 -w "$raw" "$text" ;;
    esp-sc-m7) espeak-ng -v en-gb-scotland+m7 -s 150 -w "$raw" "$text" ;;
    *) echo "unknown voice $voice" >&2; exit 1 ;;
  esac
}

voices=(kal ked slt esp-us-m3 esp-rp-f2 esp-sc-m7)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

for voice in "${voices[@]}"; do
  for i in "${!sentences[@]}"; do
    n=$((i + 1))
    raw="$tmp/${voice}_${n}.raw.wav"
    synthesise "$voice" "${sentences[$i]}" "$raw"
    # -D: no dither, so the output is byte-for-byte reproducible.
    # silence ... reverse silence ... reverse: trim leading and trailing silence.
    sox -V1 -D "$raw" -r 16000 -c 1 -b 16 -e signed-integer "$out_dir/${voice}_${n}.wav" \
      silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse \
      gain -n -3 \
      trim 0 3.0
  done
done

du -ch "$out_dir"/*.wav | tail -n 1
