// The protocol loop: answer HELLO, INFER, LOAD, INFER_STAGED, STATS and RESET frames from the host
// (docs/protocol.md).
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "defense.h"
#include "engine.h"
#include "frame.h"

// Builds without -D flags (PlatformIO) get the buffer sizes from a header written by host.flash.
#if __has_include("tr_build_config.h")
#include "tr_build_config.h"
#endif

#ifndef TR_RX_BUFFER_BYTES
#define TR_RX_BUFFER_BYTES 4096
#endif
#ifndef TR_TX_BUFFER_BYTES
#define TR_TX_BUFFER_BYTES 1024
#endif
#ifndef TR_ENGINE_NAME
#define TR_ENGINE_NAME "tinyrobust-aot"
#endif

namespace tr {
namespace {

constexpr uint32_t kMaxBatch = 255;
constexpr uint32_t kControlBytes = 512;
constexpr uint32_t kMaxStringBytes = 63;  // each HELLO string is cut to this many bytes
constexpr uint32_t kMaxOps = 120;         // per-op counters kept (OP_STATS): the first kMaxOps ops
// The staging area holds the inputs of a full INFER frame where an INFER frame keeps them, moved
// kStagingOffset - kFrameOverhead - kBatchHeaderBytes bytes further in (that much more RAM), so
// the small frames the host sends between LOADs and short noise never reach it. A LOAD frame of
// n bytes at offset o spans rx_buffer[0, kFrameOverhead + kLoadBytes + n), below staging + o + n:
// it never reaches the bytes staged past its own. The host LOADs from the end of the inputs down
// to offset 0, so chunks of any size are safe; a longer broken frame may overwrite staged bytes,
// which INFER_STAGED's CRC tells.
constexpr uint32_t kStagingOffset = 64;
static_assert(kStagingOffset % 8 == 0 && kStagingOffset >= kFrameOverhead + kInferStagedBytes &&
                  kStagingOffset >= kFrameOverhead + kLoadBytes,
              "staging area reached by INFER_STAGED frames");
constexpr uint32_t kStagingBytes = TR_RX_BUFFER_BYTES - kFrameOverhead - kBatchHeaderBytes;
constexpr uint32_t kMaxLoad = kStagingBytes < 0xFFFF ? kStagingBytes : 0xFFFF;  // HELLO: u16

// The engine's structs hold what the wire carries.
static_assert(sizeof(tr_model.sha256) == kHelloModelSha256Count, "model hash size");
static_assert(sizeof(tr_model.input.dims) / sizeof(tr_model.input.dims[0]) == kTensorDimsCount,
              "tensor rank limit");
// The control buffer holds the longest HELLO: fixed part, two tensors, three strings.
static_assert(kControlBytes >=
                  kFrameOverhead + kHelloBytes + 2 * kTensorBytes + 3 * (1 + kMaxStringBytes),
              "control buffer too small for HELLO");
static_assert(kControlBytes >= kFrameOverhead + kOpStatsBytes + sizeof(uint32_t) * kMaxOps,
              "control buffer too small for OP_STATS");

alignas(8) uint8_t rx_buffer[kStagingOffset + kStagingBytes];  // a full INFER frame fits too

// Received bytes wait in this ring (the board's receive interrupt fills it) until the protocol
// loop decodes them: by default a whole frame of max_frame bytes COBS-encoded, its delimiter and a
// resend's leading 0x00, so the host may send the next frame while the device computes (HELLO
// capability bit8). A board short of RAM may set a smaller TR_RX_RING_BYTES (then no bit8).
constexpr uint32_t kRingForFrame = sizeof(rx_buffer) + sizeof(rx_buffer) / 254 + 3;
#ifndef TR_RX_RING_BYTES
#define TR_RX_RING_BYTES kRingForFrame
#endif
uint8_t rx_ring[TR_RX_RING_BYTES];
constexpr bool kReceivesWhileComputing = sizeof(rx_ring) >= kRingForFrame;
uint8_t* const staging = rx_buffer + kStagingOffset;
alignas(8) uint8_t tx_buffer[TR_TX_BUFFER_BYTES];  // the last INFER answer, kept as the cache
alignas(8) uint8_t control_buffer[kControlBytes];  // every other frame the device sends

struct Cache {
  bool valid;
  uint16_t seq;
  uint32_t request_crc;
  uint32_t frame_bytes;
};

struct Stats {
  uint32_t frames_ok;
  uint32_t frames_rejected;
  uint32_t inferences;
  uint32_t cache_hits;
  uint32_t errors;
  uint32_t last_count;
};

Cache cache;
Stats stats;

// Per-op counters of the last inference, in board ticks: tr_op_done() stores the ticks since the
// previous op boundary (the start of the inference for op 0).
uint64_t op_mark;
uint32_t op_ticks[kMaxOps];

uint32_t MaxBatch() {
  uint32_t by_rx = kStagingBytes / tr_model.input.bytes;
  uint32_t by_tx = (sizeof(tx_buffer) - kFrameOverhead - kBatchHeaderBytes) /
                   (kResultHeaderBytes + tr_model.output.bytes);
  uint32_t batch = by_rx < by_tx ? by_rx : by_tx;
  return batch < kMaxBatch ? batch : kMaxBatch;
}

void Send(const uint8_t* raw, uint32_t n) { SendEncoded(raw, n, tr_uart_write); }

void SendControl(uint8_t type, uint16_t seq, uint32_t length) {
  Send(control_buffer, SealFrame(control_buffer, type, seq, length));
}

void SendNak(NakReason reason, uint16_t seq) {
  uint8_t* p = control_buffer + kHeaderBytes;
  p[kNakReasonOffset] = reason;
  p[kNakReservedOffset] = 0;
  PutU16(p + kNakSeqOffset, seq);
  SendControl(kNak, seq, kNakBytes);
}

void SendText(uint8_t type, uint16_t seq, uint16_t code, const char* text) {
  uint8_t* p = control_buffer + kHeaderBytes;
  uint32_t n = 0;
  if (type == kError) {
    PutU16(p + kErrorCodeOffset, code);
    PutU16(p + kErrorSeqOffset, seq);
    n = kErrorBytes;
    stats.errors++;
  }
  uint32_t text_bytes = strlen(text);
  if (text_bytes > kControlBytes - kFrameOverhead - n) {
    text_bytes = kControlBytes - kFrameOverhead - n;
  }
  memcpy(p + n, text, text_bytes);
  SendControl(type, seq, n + text_bytes);
}

uint8_t* PutTensor(uint8_t* p, const tr_tensor_info& t) {
  p[kTensorTypeOffset] = static_cast<uint8_t>(t.type);
  p[kTensorRankOffset] = static_cast<uint8_t>(t.rank);
  PutU16(p + kTensorReservedOffset, 0);
  for (int i = 0; i < static_cast<int>(kTensorDimsCount); i++) {
    uint32_t dim = static_cast<uint32_t>(i < t.rank ? t.dims[i] : 0);
    PutU32(p + kTensorDimsOffset + sizeof(int32_t) * i, dim);
  }
  uint32_t scale_bits;
  memcpy(&scale_bits, &t.scale, sizeof(scale_bits));
  PutU32(p + kTensorScaleOffset, scale_bits);
  PutU32(p + kTensorZeroPointOffset, static_cast<uint32_t>(t.zero_point));
  PutU32(p + kTensorBytesOffset, t.bytes);
  return p + kTensorBytes;
}

uint8_t* PutString(uint8_t* p, const char* s) {
  size_t n = strlen(s);
  n = n > kMaxStringBytes ? kMaxStringBytes : n;
  p[0] = static_cast<uint8_t>(n);
  memcpy(p + 1, s, n);
  return p + 1 + n;
}

void SendHello(uint16_t seq, bool boot) {
  uint8_t* p = control_buffer + kHeaderBytes;
  uint32_t caps =
      kCapBatch | kCapStats | kCapReset | kCapCache | kCapLog | kCapStaged | kCapOpStats;
  if (tr_counter_is_instructions()) {
    caps |= kCapCountsInstructions;
  }
  if (kReceivesWhileComputing) {
    caps |= kCapReceivesWhileComputing;
  }
  memset(p, 0, kHelloBytes);  // the reserved fields
  PutU32(p + kHelloCapabilitiesOffset, caps);
  p[kHelloBootOffset] = boot ? 1 : 0;
  PutU32(p + kHelloMaxFrameOffset, sizeof(rx_buffer));
  PutU16(p + kHelloMaxBatchOffset, static_cast<uint16_t>(MaxBatch()));
  PutU16(p + kHelloMaxLoadOffset, static_cast<uint16_t>(kMaxLoad));
  PutU32(p + kHelloArenaBytesOffset, tr_model.arena_bytes);
  PutU32(p + kHelloWeightBytesOffset, tr_model.weight_bytes);
  PutU32(p + kHelloOpCountOffset, tr_model.op_count);
  PutU32(p + kHelloCpuHzOffset, tr_cpu_hz());
  memcpy(p + kHelloModelSha256Offset, tr_model.sha256, kHelloModelSha256Count);
  uint8_t* q = PutTensor(p + kHelloBytes, tr_model.input);
  q = PutTensor(q, tr_model.output);
  q = PutString(q, tr_board_name());
  q = PutString(q, TR_ENGINE_NAME TR_DEFENSE_SUFFIX);
  q = PutString(q, tr_model.name);
  SendControl(kHello, seq, static_cast<uint32_t>(q - p));
}

void SendStats(uint16_t seq) {
  uint8_t* p = control_buffer + kHeaderBytes;
  // In the order of the Stats layout (host/board/wire.py).
  const uint32_t values[] = {stats.frames_ok,  stats.frames_rejected, stats.inferences,
                             stats.cache_hits, stats.errors,          stats.last_count};
  static_assert(sizeof(values) == kStatsBytes, "one u32 per Stats field");
  for (uint32_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
    PutU32(p + kStatsFramesOkOffset + sizeof(uint32_t) * i, values[i]);
  }
  SendControl(kStats, seq, kStatsBytes);
}

// The index of the first largest of n values of type T stored at out (any alignment).
template <typename T>
int16_t ArgmaxOf(const uint8_t* out, uint32_t n) {
  int32_t best = 0;
  T best_value{};
  for (uint32_t i = 0; i < n; i++) {
    T v;
    memcpy(&v, out + sizeof(T) * i, sizeof(T));
    if (i == 0 || v > best_value) {
      best_value = v;
      best = static_cast<int32_t>(i);
    }
  }
  return static_cast<int16_t>(best);
}

int16_t Argmax(const uint8_t* out) {
  const tr_tensor_info& t = tr_model.output;
  if (t.type == kTensorInt16) return ArgmaxOf<int16_t>(out, t.bytes / 2);
  if (t.type == kTensorFloat32) return ArgmaxOf<float>(out, t.bytes / 4);
  if (t.type == kTensorUint8) return ArgmaxOf<uint8_t>(out, t.bytes);
  return ArgmaxOf<int8_t>(out, t.bytes);
}

// OP_STATS: the count of each op of the last inference and of the whole inference.
void SendOpStats(uint16_t seq) {
  uint8_t* p = control_buffer + kHeaderBytes;
  uint32_t n = tr_model.op_count < kMaxOps ? tr_model.op_count : kMaxOps;
  PutU16(p + kOpStatsCountOffset, static_cast<uint16_t>(n));
  PutU16(p + kOpStatsReservedOffset, 0);
  PutU32(p + kOpStatsTotalOffset, stats.last_count);
  for (uint32_t i = 0; i < n; i++) {
    PutU32(p + kOpStatsBytes + sizeof(uint32_t) * i,
           static_cast<uint32_t>(tr_counter_count(op_ticks[i])));
  }
  SendControl(kOpStats, seq, kOpStatsBytes + sizeof(uint32_t) * n);
}

// Sends the cached RESULT when it answers this very request (same seq and request CRC).
bool AnswerFromCache(uint16_t seq, uint32_t request_crc) {
  if (!cache.valid || cache.seq != seq || cache.request_crc != request_crc) {
    return false;
  }
  stats.cache_hits++;
  Send(tx_buffer, cache.frame_bytes);
  return true;
}

// False (and an ERROR sent) unless 1 <= count <= max_batch.
bool CheckCount(uint16_t seq, uint32_t count) {
  if (count == 0 || count > MaxBatch()) {
    SendText(kError, seq, kErrBatchTooLarge, "count is 0 or above max_batch");
    return false;
  }
  return true;
}

// Runs count inputs, answers RESULT and keeps it as the cache of this request.
void RunBatch(const uint8_t* in, uint32_t count, uint16_t seq, uint32_t request_crc) {
  cache.valid = false;
  uint8_t* out = tx_buffer + kHeaderBytes;
  PutU16(out + kBatchHeaderCountOffset, static_cast<uint16_t>(count));
  PutU16(out + kBatchHeaderReservedOffset, 0);
  uint8_t* slot = out + kBatchHeaderBytes;
  for (uint32_t i = 0; i < count; i++) {
    uint8_t* result = slot + kResultHeaderBytes;
    uint64_t start = tr_counter_ticks();
    // A defended build squeezes a copy of the input (the received one stays for retries); the
    // count includes the defense, the per-op counts do not.
    const uint8_t* model_input = DefendInput(in);
    op_mark = kDefenseEnabled ? tr_counter_ticks() : start;
    int status = model_input != nullptr ? tr_model_invoke(model_input, result) : kDefenseRefused;
    uint64_t count_value = tr_counter_count(tr_counter_ticks() - start);
    uint32_t clipped = count_value > 0xFFFFFFFFu ? 0xFFFFFFFFu : static_cast<uint32_t>(count_value);
    stats.inferences++;
    stats.last_count = clipped;
    PutU32(slot + kResultHeaderCounterOffset, clipped);
    PutU16(slot + kResultHeaderArgmaxOffset,
           static_cast<uint16_t>(status == 0 ? Argmax(result) : -1));
    PutU16(slot + kResultHeaderStatusOffset, static_cast<uint16_t>(status));
    in += tr_model.input.bytes;
    slot = result + tr_model.output.bytes;
  }
  uint32_t length = static_cast<uint32_t>(slot - out);
  cache.frame_bytes = SealFrame(tx_buffer, kResult, seq, length);
  cache.seq = seq;
  cache.request_crc = request_crc;
  cache.valid = true;
  Send(tx_buffer, cache.frame_bytes);
}

void HandleInfer(const Frame& f, uint32_t request_crc) {
  if (AnswerFromCache(f.seq, request_crc)) {
    return;
  }
  if (f.length < kBatchHeaderBytes) {
    SendText(kError, f.seq, kErrBadPayload, "INFER payload shorter than its header");
    return;
  }
  uint32_t count = GetU16(f.payload + kBatchHeaderCountOffset);
  if (!CheckCount(f.seq, count)) {
    return;
  }
  if (f.length != kBatchHeaderBytes + count * tr_model.input.bytes) {
    SendText(kError, f.seq, kErrBadPayload, "INFER length is not count * input bytes");
    return;
  }
  RunBatch(f.payload + kBatchHeaderBytes, count, f.seq, request_crc);
}

// LOAD: copy the bytes into the staging area at offset (idempotent, so never cached).
void HandleLoad(const Frame& f) {
  if (f.length < kLoadBytes) {
    SendText(kError, f.seq, kErrBadPayload, "LOAD payload shorter than its header");
    return;
  }
  uint32_t offset = GetU32(f.payload + kLoadOffsetOffset);
  uint32_t n = f.length - kLoadBytes;
  if (n > kMaxLoad || offset > kStagingBytes || n > kStagingBytes - offset) {
    SendText(kError, f.seq, kErrBadPayload, "LOAD above max_load or past the staging area");
    return;
  }
  memmove(staging + offset, f.payload + kLoadBytes, n);  // the frame may overlap its target
  uint8_t* p = control_buffer + kHeaderBytes;
  PutU32(p + kLoadAckOffsetOffset, offset);
  PutU32(p + kLoadAckLengthOffset, n);
  SendControl(kLoadAck, f.seq, kLoadAckBytes);
}

// INFER_STAGED: run the staged inputs once their CRC-32 matches the one the host computed.
void HandleInferStaged(const Frame& f, uint32_t request_crc) {
  if (AnswerFromCache(f.seq, request_crc)) {
    return;
  }
  if (f.length != kInferStagedBytes) {
    SendText(kError, f.seq, kErrBadPayload, "INFER_STAGED payload is not 8 bytes");
    return;
  }
  uint32_t count = GetU16(f.payload + kInferStagedCountOffset);
  if (!CheckCount(f.seq, count)) {
    return;
  }
  if (Crc32(0, staging, count * tr_model.input.bytes) !=
      GetU32(f.payload + kInferStagedCrcOffset)) {
    SendText(kError, f.seq, kErrStagedMismatch, "staged inputs do not match their CRC");
    return;
  }
  RunBatch(staging, count, f.seq, request_crc);
}

void HandleFrame(const Frame& f, uint32_t request_crc) {
  if (f.version != kProtocolVersion) {
    SendText(kError, f.seq, kErrBadVersion, "unsupported protocol version");
    return;
  }
  switch (f.type) {
    case kHelloRequest:
      cache.valid = false;  // a new session starts: never answer it from an old cache
      SendHello(f.seq, false);
      break;
    case kInfer:
      HandleInfer(f, request_crc);
      break;
    case kLoad:
      HandleLoad(f);
      break;
    case kInferStaged:
      HandleInferStaged(f, request_crc);
      break;
    case kStatsRequest:
      SendStats(f.seq);
      break;
    case kOpStatsRequest:
      SendOpStats(f.seq);
      break;
    case kEcho:  // transfer without compute: the host times the link with it
      PutU32(control_buffer + kHeaderBytes + kEchoReplyLengthOffset, f.length);
      PutU32(control_buffer + kHeaderBytes + kEchoReplyCrcOffset, request_crc);
      SendControl(kEchoReply, f.seq, kEchoReplyBytes);
      break;
    case kReset:
      SendControl(kResetAck, f.seq, 0);
      tr_board_reset();
      break;
    default:
      SendText(kError, f.seq, kErrUnknownType, "unknown frame type");
      break;
  }
}

}  // namespace

// The op boundary hook of the generated model (engine.h): one counter read per op.
extern "C" void tr_op_done(uint32_t index) {
  uint64_t now = tr_counter_ticks();
  if (index < kMaxOps) {
    op_ticks[index] = static_cast<uint32_t>(now - op_mark);
  }
  op_mark = now;
}

void Run() {
  tr_board_init(rx_ring, sizeof(rx_ring));
  SendHello(kNoSeq, true);
  SendText(kLog, kNoSeq, 0, "tinyrobust firmware ready");
  FrameDecoder decoder(rx_buffer, sizeof(rx_buffer));
  for (;;) {
    FrameDecoder::Status status = decoder.Push(tr_uart_read());
    if (status == FrameDecoder::kFrameReady) {
      stats.frames_ok++;
      const Frame& f = decoder.frame();
      HandleFrame(f, GetU32(f.payload + f.length));
    } else if (status == FrameDecoder::kRejected) {
      stats.frames_rejected++;
      SendNak(decoder.reason(), decoder.rejected_seq());
    }
  }
}

}  // namespace tr

int main() {
  tr::Run();
  return 0;
}
