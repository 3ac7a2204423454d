// Fuzz harness for the firmware's frame decoder (frame.cc), built for the host with ASan and
// UBSan by tests/test_fuzz.py:
//   frame_fuzz SEED FRAMES CAPACITY [STREAM_FILE]
// Generates FRAMES frames (random type, seq and payload, sealed and COBS-encoded by the
// firmware's own encoder), mutates about half of them (bit flips, replaced bytes, cuts with and
// without delimiter, inserted, deleted and duplicated bytes, garbage chunks, extra delimiters)
// with a seeded PRNG, and pushes every byte into one FrameDecoder with a CAPACITY-byte buffer.
// Every intact frame that starts after a delimiter must come out unchanged (or be refused as
// too long when it does not fit). With STREAM_FILE, the bytes are written there and every
// verdict is printed, one a line: "frame TYPE SEQ LENGTH CRC32", "nak REASON" or "empty".
// The last line is a summary; the exit status is 1 on a wrong verdict, 2 on bad arguments.
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <vector>

#include "frame.h"

namespace {

uint64_t rng_state = 0;

// splitmix64: a small, seedable generator with good bit mixing.
uint64_t Next() {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint32_t Below(uint32_t n) { return static_cast<uint32_t>(Next() % n); }

std::vector<uint8_t> encoded;  // the sink of SendEncoded

void Collect(const uint8_t* data, uint32_t n) { encoded.insert(encoded.end(), data, data + n); }

// Payload lengths: mostly short, sometimes around COBS block sizes or the buffer's capacity.
uint32_t PayloadLength(uint32_t capacity) {
  uint32_t kind = Below(16);
  if (kind < 8) {
    return Below(16);
  }
  if (kind < 13) {
    return Below(600);
  }
  if (kind < 15) {
    return 250 + Below(10);
  }
  return capacity - tr::kFrameOverhead - 4 + Below(8);
}

// Random payload bytes: uniform, zero-rich, or zero-free (full 254-byte COBS blocks).
void FillPayload(uint8_t* p, uint32_t n) {
  uint32_t style = Below(3);
  for (uint32_t i = 0; i < n; i++) {
    uint8_t byte = static_cast<uint8_t>(Next());
    p[i] = style == 1 && Below(4) == 0 ? 0 : (style == 2 && byte == 0 ? 1 : byte);
  }
}

std::vector<uint8_t> RandomBytes(uint32_t n) {
  std::vector<uint8_t> bytes(n);
  for (uint8_t& byte : bytes) {
    byte = static_cast<uint8_t>(Next());
  }
  return bytes;
}

// Applies one random mutation to an encoded frame (delimiter included).
void Mutate(std::vector<uint8_t>& chunk) {
  uint32_t at = Below(static_cast<uint32_t>(chunk.size()));
  uint32_t span = 1 + Below(std::min<uint32_t>(16, static_cast<uint32_t>(chunk.size()) - at));
  switch (Below(9)) {
    case 0:
      chunk[at] ^= static_cast<uint8_t>(1u << Below(8));
      break;
    case 1:
      chunk[at] = static_cast<uint8_t>(Next());
      break;
    case 2:  // cut, delimiter kept
      chunk.resize(at);
      chunk.push_back(0);
      break;
    case 3:  // cut, delimiter lost: merges with the next frame
      chunk.resize(at);
      break;
    case 4: {
      std::vector<uint8_t> extra = RandomBytes(1 + Below(8));
      chunk.insert(chunk.begin() + at, extra.begin(), extra.end());
      break;
    }
    case 5:
      chunk.erase(chunk.begin() + at, chunk.begin() + at + span);
      break;
    case 6: {
      std::vector<uint8_t> copy(chunk.begin() + at, chunk.begin() + at + span);
      chunk.insert(chunk.begin() + at, copy.begin(), copy.end());
      break;
    }
    case 7: {  // a garbage chunk before the frame
      std::vector<uint8_t> garbage = RandomBytes(1 + Below(40));
      garbage.push_back(0);
      chunk.insert(chunk.begin(), garbage.begin(), garbage.end());
      break;
    }
    default:
      chunk.insert(chunk.begin() + at, 1 + Below(3), 0);
      break;
  }
}

struct Counts {
  unsigned long long frames = 0, bytes = 0, ready = 0, empty = 0, checked = 0, wrong = 0;
  unsigned long long naks[8] = {};
};

struct Expected {
  bool active = false;  // the chunk is an intact frame that starts after a delimiter
  uint8_t type = 0;
  uint16_t seq = 0;
  uint32_t length = 0;
  uint32_t crc = 0;
  bool fits = true;
};

void Report(tr::FrameDecoder& decoder, tr::FrameDecoder::Status status, bool print) {
  if (!print) {
    return;
  }
  if (status == tr::FrameDecoder::kFrameReady) {
    const tr::Frame& f = decoder.frame();
    printf("frame %u %u %u %u\n", static_cast<unsigned>(f.type), static_cast<unsigned>(f.seq),
           static_cast<unsigned>(f.length),
           static_cast<unsigned>(tr::Crc32(0, f.payload, f.length)));
  } else if (status == tr::FrameDecoder::kRejected) {
    printf("nak %u\n", static_cast<unsigned>(decoder.reason()));
  } else if (status == tr::FrameDecoder::kEmpty) {
    printf("empty\n");
  }
}

// Whether a verdict is the one an intact frame must get.
bool Matches(tr::FrameDecoder& decoder, tr::FrameDecoder::Status status, const Expected& want) {
  if (!want.fits) {
    return status == tr::FrameDecoder::kRejected && decoder.reason() == tr::kNakTooLong;
  }
  const tr::Frame& f = decoder.frame();
  return status == tr::FrameDecoder::kFrameReady && f.type == want.type && f.seq == want.seq &&
         f.length == want.length && tr::Crc32(0, f.payload, f.length) == want.crc;
}

void Push(tr::FrameDecoder& decoder, const std::vector<uint8_t>& chunk, const Expected& want,
          bool print, Counts& counts) {
  for (size_t i = 0; i < chunk.size(); i++) {
    tr::FrameDecoder::Status status = decoder.Push(chunk[i]);
    Report(decoder, status, print);
    counts.ready += status == tr::FrameDecoder::kFrameReady;
    counts.empty += status == tr::FrameDecoder::kEmpty;
    if (status == tr::FrameDecoder::kRejected) {
      counts.naks[decoder.reason() & 7]++;
    }
    bool last = i + 1 == chunk.size();
    if (want.active &&
        (last ? !Matches(decoder, status, want) : status != tr::FrameDecoder::kPending)) {
      counts.wrong++;
      fprintf(stderr, "wrong verdict %d for intact frame %llu at byte %zu\n",
              static_cast<int>(status), counts.frames, i);
    }
  }
  counts.checked += want.active;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || argc > 5) {
    fprintf(stderr, "usage: frame_fuzz SEED FRAMES CAPACITY [STREAM_FILE]\n");
    return 2;
  }
  rng_state = strtoull(argv[1], nullptr, 10);
  unsigned long long frames = strtoull(argv[2], nullptr, 10);
  uint32_t capacity = static_cast<uint32_t>(strtoul(argv[3], nullptr, 10));
  if (capacity < tr::kFrameOverhead + 4) {
    fprintf(stderr, "capacity must be at least %u\n", tr::kFrameOverhead + 4);
    return 2;
  }
  FILE* stream = argc == 5 ? fopen(argv[4], "wb") : nullptr;
  if (argc == 5 && stream == nullptr) {
    fprintf(stderr, "cannot write %s\n", argv[4]);
    return 2;
  }
  // Exactly CAPACITY bytes on the heap: a write past the end is an ASan report.
  uint8_t* buffer = new uint8_t[capacity];
  tr::FrameDecoder decoder(buffer, capacity);
  std::vector<uint8_t> raw;
  Counts counts;
  bool clean = true;  // the stream so far ends with a delimiter
  for (counts.frames = 0; counts.frames < frames; counts.frames++) {
    uint32_t length = PayloadLength(capacity);
    raw.assign(tr::kFrameOverhead + length, 0);
    FillPayload(raw.data() + tr::kHeaderBytes, length);
    Expected want;
    want.type = static_cast<uint8_t>(Next());
    want.seq = static_cast<uint16_t>(Next());
    want.length = length;
    want.crc = tr::Crc32(0, raw.data() + tr::kHeaderBytes, length);
    want.fits = raw.size() <= capacity;
    tr::SealFrame(raw.data(), want.type, want.seq, length);
    encoded.clear();
    tr::SendEncoded(raw.data(), static_cast<uint32_t>(raw.size()), Collect);
    bool mutated = Below(2) == 0;
    if (mutated) {
      Mutate(encoded);
    }
    want.active = clean && !mutated;
    Push(decoder, encoded, want, stream != nullptr, counts);
    counts.bytes += encoded.size();
    clean = encoded.empty() ? clean : encoded.back() == 0;
    if (stream != nullptr && fwrite(encoded.data(), 1, encoded.size(), stream) != encoded.size()) {
      fprintf(stderr, "cannot write %s\n", argv[4]);
      return 2;
    }
  }
  if (stream != nullptr) {
    fclose(stream);
  }
  printf("summary frames %llu bytes %llu ready %llu empty %llu checked %llu wrong %llu naks",
         frames, counts.bytes, counts.ready, counts.empty, counts.checked, counts.wrong);
  for (int reason = 1; reason <= 5; reason++) {
    printf(" %llu", counts.naks[reason]);
  }
  printf("\n");
  delete[] buffer;
  return counts.wrong == 0 ? 0 : 1;
}
