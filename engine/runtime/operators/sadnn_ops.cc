// SaDNN operators for ONNX Runtime (domain "ai.sadnn", version 1), all NHWC, float32, AVX2 + FMA.
//
//   LocalAttention3x3(proj, bias) -> y
//       proj [N,H,W, 2*Dk + Dv + 9] = [q | k | v | 9 position logits] from one projection;
//       y[n,i,j,:] = relu(sum_d softmax_d(q . k_d + pos_d) v_d + bias) over the 3x3 window d,
//       window positions outside the image excluded from the softmax.  Attribute key_channels = Dk.
//   LocalAttention3x3Folded(proj, keys, bias) -> y
//       proj [N,H,W, Cin + Dv + 9] = [W_k^T W_q x | v | pos], keys = x [N,H,W,Cin]: the same result with
//       q . k computed as (W_k^T W_q x) . x (fewer MACs where Cin < 2 Dk).
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
constexpr const char* kVersion = "1.0.0";

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

inline float Dot(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  acc0 = _mm256_add_ps(acc0, acc1);
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(acc0), _mm256_extractf128_ps(acc0, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_shuffle_ps(sum, sum, 1));
  float total = _mm_cvtss_f32(sum);
  for (; i < n; ++i) total += a[i] * b[i];
  return total;
}

inline void Axpy(float weight, const float* x, float* y, int64_t n) {  // y += weight * x
  const __m256 w = _mm256_set1_ps(weight);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(w, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += weight * x[i];
}

inline void BiasRelu(const float* bias, float* y, int64_t n) {
  const __m256 zero = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_max_ps(zero, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(bias + i))));
  for (; i < n; ++i) y[i] = std::max(0.0f, y[i] + bias[i]);
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
};

void AttentionRow(void* data, size_t row_index) {
  const auto& job = *static_cast<const AttentionJob*>(data);
  const int64_t n = static_cast<int64_t>(row_index) / job.height, i = static_cast<int64_t>(row_index) % job.height;
  const int64_t plane = job.height * job.width;
  for (int64_t j = 0; j < job.width; ++j) {
    const int64_t pixel = n * plane + i * job.width + j;
    const float* p = job.proj + pixel * job.proj_stride;
    float logits[9];
    int64_t neighbours[9];
    int count = 0;
    float largest = -std::numeric_limits<float>::infinity();
    for (int a = 0; a < 3; ++a) {
      const int64_t r = i + a - 1;
      if (r < 0 || r >= job.height) continue;
      for (int b = 0; b < 3; ++b) {
        const int64_t c = j + b - 1;
        if (c < 0 || c >= job.width) continue;
        const int64_t other = n * plane + r * job.width + c;
        const float logit = Dot(p, job.keys + other * job.key_stride, job.qk) + p[job.pos_offset + 3 * a + b];
        logits[count] = logit;
        neighbours[count++] = other;
        largest = std::max(largest, logit);
      }
    }
    float total = 0.0f;
    for (int d = 0; d < count; ++d) total += (logits[d] = std::exp(logits[d] - largest));
    float* y = job.out + pixel * job.dv;
    std::memset(y, 0, sizeof(float) * job.dv);
    for (int d = 0; d < count; ++d) Axpy(logits[d] / total, job.proj + neighbours[d] * job.proj_stride + job.v_offset, y, job.dv);
    BiasRelu(job.bias, y, job.dv);
  }
}

struct AttentionKernel {
  AttentionKernel(bool folded, int64_t key_channels) : folded_(folded), key_channels_(key_channels) {}

  OrtStatusPtr ComputeV2(OrtKernelContext* raw) {
    return Guarded([&]() -> OrtStatus* {
      Ort::KernelContext context(raw);
      const Ort::ConstValue proj = context.GetInput(0);
      const Ort::ConstValue keys = folded_ ? context.GetInput(1) : proj;
      const Ort::ConstValue bias = context.GetInput(folded_ ? 2 : 1);
      const auto shape = ShapeOf(proj), key_shape = ShapeOf(keys), bias_shape = ShapeOf(bias);
      if (shape.size() != 4 || bias_shape.size() != 1) return Error("LocalAttention3x3: proj must be NHWC and bias 1-D, got " + Shape(shape) + " and " + Shape(bias_shape));
      const int64_t dv = bias_shape[0];
      AttentionJob job{};
      job.height = shape[1];
      job.width = shape[2];
      job.proj_stride = shape[3];
      job.dv = dv;
      if (folded_) {
        if (key_shape.size() != 4 || key_shape[0] != shape[0] || key_shape[1] != shape[1] || key_shape[2] != shape[2])
          return Error("LocalAttention3x3Folded: keys " + Shape(key_shape) + " do not match proj " + Shape(shape));
        job.qk = key_shape[3];
        job.key_stride = key_shape[3];
        job.v_offset = job.qk;
      } else {
        job.qk = key_channels_;
        job.key_stride = shape[3];
        job.v_offset = 2 * job.qk;
      }
      job.pos_offset = job.v_offset + dv;
      if (job.pos_offset + 9 != shape[3])
        return Error("LocalAttention3x3: proj has " + std::to_string(shape[3]) + " channels; expected " + std::to_string(job.pos_offset + 9));
      job.proj = proj.GetTensorData<float>();
      job.keys = folded_ ? keys.GetTensorData<float>() : job.proj + job.qk;
      job.bias = bias.GetTensorData<float>();
      Ort::UnownedValue out = context.GetOutput(0, {shape[0], shape[1], shape[2], dv});
      job.out = out.GetTensorMutableData<float>();
      const size_t rows = static_cast<size_t>(shape[0] * shape[1]);
      if (rows > 0) context.ParallelFor(AttentionRow, rows, 0, &job);
      return nullptr;
    });
  }

  bool folded_;
  int64_t key_channels_;
};

template <bool Folded>
struct AttentionOp : Ort::CustomOpBase<AttentionOp<Folded>, AttentionKernel, true> {
  OrtStatusPtr CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const {
    int64_t key_channels = 0;
    if (!Folded) {
      if (OrtStatus* status = api.KernelInfoGetAttribute_int64(info, "key_channels", &key_channels)) return status;
      if (key_channels <= 0) return Error("LocalAttention3x3: key_channels must be positive");
    }
    return NewKernel<AttentionKernel>(kernel, Folded, key_channels);
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
    for (int64_t c = 0; c < c_count; ++c) {
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
