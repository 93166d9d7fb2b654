// SaDNN operators for ONNX Runtime (domain "ai.sadnn", version 1), all NHWC, float32, AVX2 + FMA.
//
//   LocalAttention3x3(proj, bias) -> y
//       proj [N,H,W, 2*Dk + Dv + 9*heads] = [q | k | v | 9 position logits per head] from one projection;
//       per head h (channels h*Dk/heads.. of q and k, h*Dv/heads.. of v and y, logits 9h..9h+8):
//       y_h[n,i,j,:] = relu(sum_d softmax_d(q_h . k_h,d + pos_h,d) v_h,d + bias_h) over the 3x3 window d,
//       window positions outside the image excluded from the softmax.  Attributes key_channels = Dk,
//       heads (default 1).  Any logit scale is folded into q by the exporter.
//   LocalAttention3x3Folded(proj, keys, bias) -> y
//       proj [N,H,W, heads*Cin + Dv + 9*heads] = [W_k,h^T W_q,h x per head | v | pos], keys = x [N,H,W,Cin]:
//       the same result with q_h . k_h computed as (W_k,h^T W_q,h x) . x (fewer MACs where heads*Cin < 2 Dk).
//       Attribute heads (default 1).
//   MaxPool2x2(x) -> (y, where)        where = position in the 2x2 window (0..3, row-major), uint8
//   MaxUnpool2x2Concat(y, where, skip) -> [unpool(y) | skip] along channels
//
// Every kernel returns an OrtStatus (ComputeV2): no C++ exception crosses into ONNX Runtime.
// RegisterCustomOps refuses, with a message, a CPU without AVX2 and FMA.

#define ORT_API_MANUAL_INIT  // the library loads into a runtime it does not link against
#include <onnxruntime_cxx_api.h>

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <vector>

#if defined(_MSC_VER)
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#if defined(_WIN32)
#define SADNN_EXPORT __declspec(dllexport)
#else
#define SADNN_EXPORT __attribute__((visibility("default")))
#endif

namespace {

constexpr const char* kDomain = "ai.sadnn";
constexpr const char* kVersion = "1.2.0";

const OrtApi* g_api = nullptr;

OrtStatus* Error(const std::string& message) {
  return g_api->CreateStatus(ORT_INVALID_ARGUMENT, message.c_str());
}

template <typename Kernel, typename... Args>
OrtStatus* NewKernel(void** kernel, Args... args) {
  *kernel = new (std::nothrow) Kernel(args...);
  return *kernel ? nullptr : g_api->CreateStatus(ORT_FAIL, "out of memory");
}

// Runs a kernel body and turns any C++ exception into a status: nothing throws into ONNX Runtime.
template <typename Body>
OrtStatus* Guarded(Body&& body) {
  try {
    return body();
  } catch (const Ort::Exception& err) {
    return g_api->CreateStatus(err.GetOrtErrorCode(), err.what());
  } catch (const std::exception& err) {
    return g_api->CreateStatus(ORT_FAIL, err.what());
  }
}

// ---------------------------------------------------------------- CPU features

bool CpuHasAvx2Fma() {
#if defined(_MSC_VER)
  int info[4];
  __cpuid(info, 1);
  const bool fma = (info[2] & (1 << 12)) != 0, osxsave = (info[2] & (1 << 27)) != 0;
  if (!fma || !osxsave || (_xgetbv(0) & 6) != 6) return false;
  __cpuidex(info, 7, 0);
  return (info[1] & (1 << 5)) != 0;
#else
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  const bool fma = (c & bit_FMA) != 0, osxsave = (c & bit_OSXSAVE) != 0;
  if (!fma || !osxsave) return false;
  unsigned lo, hi;
  __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & 6) != 6) return false;  // the OS saves the YMM registers
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return (b & bit_AVX2) != 0;
#endif
}

// ---------------------------------------------------------------- vector helpers

// Lanes [0, n) of 8 set, for masked loads and stores of a channel tail (0 < n < 8).
inline __m256i TailMask(int64_t n) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), lanes);
}

inline float HorizontalSum(__m256 v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_shuffle_ps(sum, sum, 1));
  return _mm_cvtss_f32(sum);
}

inline float HorizontalMax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

// q . k[d] for the 8 keys k[0..7] at once, returned as one vector (lane d = the d-th dot product):
// eight accumulators reduced together by a tree of horizontal adds, not eight separate reductions.
inline __m256 Dots8(const float* q, const float* const* k, int64_t n) {
  __m256 acc[8];
  for (int d = 0; d < 8; ++d) acc[d] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 qv = _mm256_loadu_ps(q + i);
    for (int d = 0; d < 8; ++d) acc[d] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k[d] + i), acc[d]);
  }
  if (i < n) {
    const __m256i mask = TailMask(n - i);
    const __m256 qv = _mm256_maskload_ps(q + i, mask);
    for (int d = 0; d < 8; ++d) acc[d] = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k[d] + i, mask), acc[d]);
  }
  const __m256 pair01 = _mm256_hadd_ps(acc[0], acc[1]), pair23 = _mm256_hadd_ps(acc[2], acc[3]);
  const __m256 pair45 = _mm256_hadd_ps(acc[4], acc[5]), pair67 = _mm256_hadd_ps(acc[6], acc[7]);
  const __m256 low = _mm256_hadd_ps(pair01, pair23), high = _mm256_hadd_ps(pair45, pair67);
  return _mm256_add_ps(_mm256_permute2f128_ps(low, high, 0x20), _mm256_permute2f128_ps(low, high, 0x31));
}

inline float Dot(const float* a, const float* b, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
  if (i < n) {
    const __m256i mask = TailMask(n - i);
    acc = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, mask), _mm256_maskload_ps(b + i, mask), acc);
  }
  return HorizontalSum(acc);
}

// exp(x) for 8 lanes: 2^n * p(r) with x = n ln2 + r, |r| <= ln2/2, a degree-6 polynomial (relative error
// ~2e-7, below float32's own rounding of the softmax); x below -87.3 (exp(-inf) included) gives 0, NaN stays NaN.
inline __m256 Exp(__m256 x) {
  const __m256 lowest = _mm256_set1_ps(-87.33f);
  const __m256 underflow = _mm256_cmp_ps(x, lowest, _CMP_LT_OQ);
  x = _mm256_max_ps(lowest, _mm256_min_ps(_mm256_set1_ps(88.37f), x));  // in this order a NaN stays NaN
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i scale = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(underflow, _mm256_mul_ps(p, _mm256_castsi256_ps(scale)));
}

std::vector<int64_t> ShapeOf(const Ort::ConstValue& value) {
  return value.GetTensorTypeAndShapeInfo().GetShape();
}

std::string Shape(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? "," : "") + std::to_string(shape[i]);
  return text + "]";
}

// ---------------------------------------------------------------- local attention

struct AttentionJob {
  const float* proj;   // per pixel: proj_stride floats
  const float* keys;   // per pixel: key_stride floats (points into proj for the unfolded op)
  const float* bias;
  float* out;
  int64_t height, width, proj_stride, key_stride, qk, dv, v_offset, pos_offset;
  int64_t heads;       // qk and dv are per head; head h's query starts at h*qk, its values and output at h*dv
  int64_t key_step;    // offset of head h's keys: h*key_step (qk unfolded, 0 folded: every head reads all of x)
};

// One head of one output pixel: the 9 logits (8 in a vector, the 9th alone), a masked softmax, then the
// weighted sum of the head's values with bias and ReLU, accumulated in registers one 8-channel block at a time.
void AttentionHead(const AttentionJob& job, const float* q, const float* pos, const float* const* keys,
                   const float* const* values, const float* valid, const float* bias, float* y) {
  const __m256 logits = _mm256_add_ps(_mm256_add_ps(Dots8(q, keys, job.qk), _mm256_loadu_ps(pos)), _mm256_load_ps(valid));
  const float last = Dot(q, keys[8], job.qk) + pos[8] + valid[8];
  const float largest = std::max(HorizontalMax(logits), last);  // the centre is always inside: finite
  alignas(32) float weight[9];
  const __m256 e = Exp(_mm256_sub_ps(logits, _mm256_set1_ps(largest)));
  weight[8] = std::exp(last - largest);
  const float inverse = 1.0f / (HorizontalSum(e) + weight[8]);
  _mm256_store_ps(weight, _mm256_mul_ps(e, _mm256_set1_ps(inverse)));
  weight[8] *= inverse;
  const __m256 zero = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 8 <= job.dv; c += 8) {
    __m256 acc = _mm256_loadu_ps(bias + c);
    for (int d = 0; d < 9; ++d) acc = _mm256_fmadd_ps(_mm256_set1_ps(weight[d]), _mm256_loadu_ps(values[d] + c), acc);
    _mm256_storeu_ps(y + c, _mm256_max_ps(zero, acc));
  }
  if (c < job.dv) {
    const __m256i mask = TailMask(job.dv - c);
    __m256 acc = _mm256_maskload_ps(bias + c, mask);
    for (int d = 0; d < 9; ++d) acc = _mm256_fmadd_ps(_mm256_set1_ps(weight[d]), _mm256_maskload_ps(values[d] + c, mask), acc);
    _mm256_maskstore_ps(y + c, mask, _mm256_max_ps(zero, acc));
  }
}

// One output pixel: its 3x3 window (positions outside the image masked), then every head over it.
void AttentionPixel(const AttentionJob& job, int64_t n, int64_t i, int64_t j) {
  const int64_t plane = job.height * job.width, pixel = n * plane + i * job.width + j;
  const float* p = job.proj + pixel * job.proj_stride;
  const float* keys[9];
  const float* values[9];
  alignas(32) float valid[9];
  for (int d = 0; d < 9; ++d) {
    const int64_t r = i + d / 3 - 1, c = j + d % 3 - 1;
    const bool inside = r >= 0 && r < job.height && c >= 0 && c < job.width;
    const int64_t other = inside ? n * plane + r * job.width + c : pixel;  // outside: any readable pixel, masked below
    keys[d] = job.keys + other * job.key_stride;
    values[d] = job.proj + other * job.proj_stride + job.v_offset;
    valid[d] = inside ? 0.0f : -std::numeric_limits<float>::infinity();
  }
  float* y = job.out + pixel * job.dv * job.heads;
  for (int64_t h = 0; h < job.heads; ++h) {
    const float* head_keys[9];
    const float* head_values[9];
    for (int d = 0; d < 9; ++d) head_keys[d] = keys[d] + h * job.key_step, head_values[d] = values[d] + h * job.dv;
    AttentionHead(job, p + h * job.qk, p + job.pos_offset + 9 * h, head_keys, head_values, valid, job.bias + h * job.dv,
                  y + h * job.dv);
  }
}

void AttentionRow(void* data, size_t row_index) {
  const auto& job = *static_cast<const AttentionJob*>(data);
  const int64_t n = static_cast<int64_t>(row_index) / job.height, i = static_cast<int64_t>(row_index) % job.height;
  for (int64_t j = 0; j < job.width; ++j) AttentionPixel(job, n, i, j);
}

struct AttentionKernel {
  AttentionKernel(bool folded, int64_t key_channels, int64_t heads)
      : folded_(folded), key_channels_(key_channels), heads_(heads) {}

  OrtStatusPtr ComputeV2(OrtKernelContext* raw) {
    return Guarded([&]() -> OrtStatus* {
      Ort::KernelContext context(raw);
      const char* name = folded_ ? "LocalAttention3x3Folded" : "LocalAttention3x3";
      const Ort::ConstValue proj = context.GetInput(0);
      const Ort::ConstValue keys = folded_ ? context.GetInput(1) : proj;
      const Ort::ConstValue bias = context.GetInput(folded_ ? 2 : 1);
      const auto shape = ShapeOf(proj), key_shape = ShapeOf(keys), bias_shape = ShapeOf(bias);
      if (shape.size() != 4 || bias_shape.size() != 1) return Error(std::string(name) + ": proj must be NHWC and bias 1-D, got " + Shape(shape) + " and " + Shape(bias_shape));
      const int64_t dv = bias_shape[0];
      if (dv % heads_) return Error(std::string(name) + ": " + std::to_string(dv) + " output channels do not split into " + std::to_string(heads_) + " heads");
      AttentionJob job{};
      job.height = shape[1];
      job.width = shape[2];
      job.proj_stride = shape[3];
      job.heads = heads_;
      job.dv = dv / heads_;
      int64_t queries = 0;  // channels of q (every head's) at the start of proj
      if (folded_) {
        if (key_shape.size() != 4 || key_shape[0] != shape[0] || key_shape[1] != shape[1] || key_shape[2] != shape[2])
          return Error("LocalAttention3x3Folded: keys " + Shape(key_shape) + " do not match proj " + Shape(shape));
        job.qk = key_shape[3];
        job.key_stride = key_shape[3];
        job.key_step = 0;
        queries = heads_ * job.qk;
        job.v_offset = queries;
      } else {
        job.qk = key_channels_ / heads_;
        job.key_stride = shape[3];
        job.key_step = job.qk;
        queries = key_channels_;
        job.v_offset = 2 * queries;
      }
      job.pos_offset = job.v_offset + dv;
      if (job.pos_offset + 9 * heads_ != shape[3])
        return Error(std::string(name) + ": proj has " + std::to_string(shape[3]) + " channels; expected " + std::to_string(job.pos_offset + 9 * heads_));
      job.proj = proj.GetTensorData<float>();
      job.keys = folded_ ? keys.GetTensorData<float>() : job.proj + queries;
      job.bias = bias.GetTensorData<float>();
      Ort::UnownedValue out = context.GetOutput(0, {shape[0], shape[1], shape[2], dv});
      job.out = out.GetTensorMutableData<float>();
      const size_t rows = static_cast<size_t>(shape[0] * shape[1]);
      if (rows > 0) context.ParallelFor(AttentionRow, rows, 0, &job);
      return nullptr;
    });
  }

  bool folded_;
  int64_t key_channels_, heads_;
};

// An optional int64 attribute: its value, or ``fallback`` where the node does not set it (a wrongly typed value
// also reads as unset; the channel count check then refuses the node, since it counts 9 logits per head).
int64_t OptionalAttribute(const OrtApi& api, const OrtKernelInfo* info, const char* name, int64_t fallback) {
  int64_t value = fallback;
  if (OrtStatus* status = api.KernelInfoGetAttribute_int64(info, name, &value)) {
    api.ReleaseStatus(status);
    return fallback;
  }
  return value;
}

template <bool Folded>
struct AttentionOp : Ort::CustomOpBase<AttentionOp<Folded>, AttentionKernel, true> {
  OrtStatusPtr CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const {
    const char* name = GetName();
    int64_t key_channels = 0;
    const int64_t heads = OptionalAttribute(api, info, "heads", 1);
    if (heads <= 0) return Error(std::string(name) + ": heads must be positive");
    if (!Folded) {
      if (OrtStatus* status = api.KernelInfoGetAttribute_int64(info, "key_channels", &key_channels)) return status;
      if (key_channels <= 0) return Error("LocalAttention3x3: key_channels must be positive");
      if (key_channels % heads) return Error("LocalAttention3x3: key_channels " + std::to_string(key_channels) + " do not split into " + std::to_string(heads) + " heads");
    }
    return NewKernel<AttentionKernel>(kernel, Folded, key_channels, heads);
  }
  const char* GetName() const { return Folded ? "LocalAttention3x3Folded" : "LocalAttention3x3"; }
  size_t GetInputTypeCount() const { return Folded ? 3 : 2; }
  ONNXTensorElementDataType GetInputType(size_t) const { return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT; }
  size_t GetOutputTypeCount() const { return 1; }
  ONNXTensorElementDataType GetOutputType(size_t) const { return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT; }
};

// ---------------------------------------------------------------- 2x2 max pooling and unpooling

struct PoolJob {
  const float* x;
  float* y;
  uint8_t* where;
  int64_t height, width, channels;  // of the output
};

void PoolRow(void* data, size_t row_index) {
  const auto& job = *static_cast<const PoolJob*>(data);
  const int64_t n = static_cast<int64_t>(row_index) / job.height, i = static_cast<int64_t>(row_index) % job.height;
  const int64_t in_width = 2 * job.width, c_count = job.channels;
  for (int64_t j = 0; j < job.width; ++j) {
    const int64_t out = ((n * job.height + i) * job.width + j) * c_count;
    const float* corner[4];
    for (int k = 0; k < 4; ++k)
      corner[k] = job.x + ((n * 2 * job.height + 2 * i + k / 2) * in_width + 2 * j + k % 2) * c_count;
    int64_t c = 0;
    for (; c + 8 <= c_count; c += 8) {  // the scalar rule below, 8 channels at a time
      __m256 best = _mm256_loadu_ps(corner[0] + c), at = _mm256_setzero_ps();
      for (int k = 1; k < 4; ++k) {
        const __m256 v = _mm256_loadu_ps(corner[k] + c);
        const __m256 take = _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        best = _mm256_blendv_ps(best, v, take);
        at = _mm256_blendv_ps(at, _mm256_set1_ps(static_cast<float>(k)), take);
      }
      _mm256_storeu_ps(job.y + out + c, best);
      alignas(32) int32_t index[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(index), _mm256_cvtps_epi32(at));
      for (int lane = 0; lane < 8; ++lane) job.where[out + c + lane] = static_cast<uint8_t>(index[lane]);
    }
    for (; c < c_count; ++c) {  // a larger value or a NaN takes the window (torch's rule: NaN propagates)
      float best = corner[0][c];
      uint8_t at = 0;
      for (uint8_t k = 1; k < 4; ++k)
        if (corner[k][c] > best || std::isnan(corner[k][c])) best = corner[k][c], at = k;
      job.y[out + c] = best;
      job.where[out + c] = at;
    }
  }
}

struct PoolKernel {
  OrtStatusPtr ComputeV2(OrtKernelContext* raw) {
    return Guarded([&]() -> OrtStatus* {
      Ort::KernelContext context(raw);
      const Ort::ConstValue x = context.GetInput(0);
      const auto shape = ShapeOf(x);
      if (shape.size() != 4 || shape[1] % 2 || shape[2] % 2) return Error("MaxPool2x2: input must be NHWC with even H and W, got " + Shape(shape));
      const std::vector<int64_t> pooled{shape[0], shape[1] / 2, shape[2] / 2, shape[3]};
      PoolJob job{x.GetTensorData<float>(), context.GetOutput(0, pooled).GetTensorMutableData<float>(),
                  context.GetOutput(1, pooled).GetTensorMutableData<uint8_t>(), pooled[1], pooled[2], pooled[3]};
      const size_t rows = static_cast<size_t>(pooled[0] * pooled[1]);
      if (rows > 0) context.ParallelFor(PoolRow, rows, 0, &job);
      return nullptr;
    });
  }
};

struct PoolOp : Ort::CustomOpBase<PoolOp, PoolKernel, true> {
  OrtStatusPtr CreateKernelV2(const OrtApi&, const OrtKernelInfo*, void** kernel) const { return NewKernel<PoolKernel>(kernel); }
  const char* GetName() const { return "MaxPool2x2"; }
  size_t GetInputTypeCount() const { return 1; }
  ONNXTensorElementDataType GetInputType(size_t) const { return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT; }
  size_t GetOutputTypeCount() const { return 2; }
  ONNXTensorElementDataType GetOutputType(size_t index) const {
    return index == 0 ? ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT : ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8;
  }
};

struct UnpoolJob {
  const float* y;
  const uint8_t* where;
  const float* skip;
  float* out;
  int64_t height, width, pooled_channels, skip_channels;  // height, width of the output
};

void UnpoolRow(void* data, size_t row_index) {
  const auto& job = *static_cast<const UnpoolJob*>(data);
  const int64_t n = static_cast<int64_t>(row_index) / job.height, r = static_cast<int64_t>(row_index) % job.height;
  const int64_t cp = job.pooled_channels, cs = job.skip_channels, half_width = job.width / 2;
  const uint8_t row_code = static_cast<uint8_t>(2 * (r % 2));
  for (int64_t c0 = 0; c0 < job.width; ++c0) {
    float* out = job.out + ((n * job.height + r) * job.width + c0) * (cp + cs);
    const int64_t pooled = ((n * (job.height / 2) + r / 2) * half_width + c0 / 2) * cp;
    const uint8_t code = static_cast<uint8_t>(row_code + c0 % 2);
    for (int64_t c = 0; c < cp; ++c) out[c] = job.where[pooled + c] == code ? job.y[pooled + c] : 0.0f;
    std::memcpy(out + cp, job.skip + ((n * job.height + r) * job.width + c0) * cs, sizeof(float) * cs);
  }
}

struct UnpoolKernel {
  OrtStatusPtr ComputeV2(OrtKernelContext* raw) {
    return Guarded([&]() -> OrtStatus* {
      Ort::KernelContext context(raw);
      const Ort::ConstValue y = context.GetInput(0), where = context.GetInput(1), skip = context.GetInput(2);
      const auto shape = ShapeOf(y), where_shape = ShapeOf(where), skip_shape = ShapeOf(skip);
      if (shape.size() != 4 || where_shape != shape || skip_shape.size() != 4 || skip_shape[0] != shape[0] ||
          skip_shape[1] != 2 * shape[1] || skip_shape[2] != 2 * shape[2])
        return Error("MaxUnpool2x2Concat: pooled " + Shape(shape) + ", where " + Shape(where_shape) + " and skip " +
                     Shape(skip_shape) + " do not fit (skip must be twice the pooled height and width)");
      const std::vector<int64_t> out_shape{shape[0], skip_shape[1], skip_shape[2], shape[3] + skip_shape[3]};
      UnpoolJob job{y.GetTensorData<float>(), where.GetTensorData<uint8_t>(), skip.GetTensorData<float>(),
                    context.GetOutput(0, out_shape).GetTensorMutableData<float>(), skip_shape[1], skip_shape[2],
                    shape[3], skip_shape[3]};
      const size_t rows = static_cast<size_t>(out_shape[0] * out_shape[1]);
      if (rows > 0) context.ParallelFor(UnpoolRow, rows, 0, &job);
      return nullptr;
    });
  }
};

struct UnpoolOp : Ort::CustomOpBase<UnpoolOp, UnpoolKernel, true> {
  OrtStatusPtr CreateKernelV2(const OrtApi&, const OrtKernelInfo*, void** kernel) const { return NewKernel<UnpoolKernel>(kernel); }
  const char* GetName() const { return "MaxUnpool2x2Concat"; }
  size_t GetInputTypeCount() const { return 3; }
  ONNXTensorElementDataType GetInputType(size_t index) const {
    return index == 1 ? ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8 : ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  }
  size_t GetOutputTypeCount() const { return 1; }
  ONNXTensorElementDataType GetOutputType(size_t) const { return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT; }
};

AttentionOp<false> g_attention;
AttentionOp<true> g_attention_folded;
PoolOp g_pool;
UnpoolOp g_unpool;

}  // namespace

extern "C" {

// The library's version, for bundles to record.
SADNN_EXPORT const char* SadnnOpsVersion() { return kVersion; }

// 1 when this CPU can run the operators (AVX2 and FMA, with OS support), else 0.
SADNN_EXPORT int SadnnOpsCpuSupported() { return CpuHasAvx2Fma() ? 1 : 0; }

// Entry point for SessionOptions.register_custom_ops_library.
SADNN_EXPORT OrtStatus* ORT_API_CALL RegisterCustomOps(OrtSessionOptions* options, const OrtApiBase* base) {
  g_api = base->GetApi(ORT_API_VERSION);
  if (g_api == nullptr) return nullptr;  // a runtime older than the headers: it reports the failure itself
  Ort::InitApi(g_api);
  if (!CpuHasAvx2Fma())
    return g_api->CreateStatus(ORT_FAIL, "the SaDNN operators need a CPU with AVX2 and FMA; this one has neither or "
                                         "the OS does not enable them: use the portable model graph");
  OrtCustomOpDomain* domain = nullptr;
  if (OrtStatus* status = g_api->CreateCustomOpDomain(kDomain, &domain)) return status;
  for (OrtCustomOp* op : {static_cast<OrtCustomOp*>(&g_attention), static_cast<OrtCustomOp*>(&g_attention_folded),
                          static_cast<OrtCustomOp*>(&g_pool), static_cast<OrtCustomOp*>(&g_unpool)}) {
    if (OrtStatus* status = g_api->CustomOpDomain_Add(domain, op)) return status;
  }
  return g_api->AddCustomOpDomain(options, domain);
}

}  // extern "C"
