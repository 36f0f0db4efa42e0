// Causal grouped-query attention over an f16 KV cache, flash style: one CTA takes up to 16 query
// rows (token x head of one KV group) and streams the keys in tiles of 32 through shared memory
// with an online softmax, so no score matrix is stored. When few CTAs would cover the GPU (decode,
// short batches over long contexts) the keys are split into ranges whose partial results (max,
// sum, weighted values) one more kernel merges in split order: split-K without atomics, so the
// result repeats bit for bit.
//
// KV cache precision: keys and values are stored as f16 (as llama.cpp's default cache type) or, for
// calibration (KvStorage::Exact), as f32 like the CPU's; f32 math throughout. Rounding them to f16
// costs at most 2^-11 relative per value; tests/backend/backend_parity_test.cpp bounds the effect
// on attention outputs against the CPU's f32 cache, and holds the f32 cache closer.
#include "src/backend/cuda/kernels.hpp"
#include "src/backend/cuda/cuda_common.cuh"

#include <algorithm>
#include <cmath>

namespace quantlab::cuda {
namespace {

constexpr int kRowsPerCta = 16;
constexpr int kWarps = 4;
constexpr int kRowsPerWarp = kRowsPerCta / kWarps;
constexpr int kKeyTile = 32;

__device__ inline void store_value(float x, __half* at) { *at = __float2half_rn(x); }
__device__ inline void store_value(float x, float* at) { *at = x; }
__device__ inline float load_value(const __half* at) { return __half2float(*at); }
__device__ inline float load_value(const float* at) { return *at; }

// Rows of k and v into the cache from position first_pos (+ *base within a step graph).
template <class KV>
__global__ void kv_store_kernel(const float* k, const float* v, int64_t n, int64_t kv_dim, int64_t first_pos,
                                const int32_t* base, KV* kc, KV* vc) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const int64_t at = (first_pos + (base ? *base : 0)) * kv_dim + i;
  store_value(k[i], kc + at);
  store_value(v[i], vc + at);
}

template <class KV>
struct AttnArgs {
  const float* q;
  const KV* kc;
  const KV* vc;
  int64_t n_tokens, first_pos, window;
  const int32_t* pos_base;  // within a step graph: first_pos is an offset from *pos_base
  int n_head, n_head_kv, head_dim, group, splits;
  float scale;
  float* out;        // final output when splits == 1
  float* part_acc;   // [splits][n_head_kv * n_tokens * group][head_dim]
  float* part_ml;    // [splits][n_head_kv * n_tokens * group][2]
};

// Dims per lane: head_dim <= 32 * DPL.
template <int DPL, class KV>
__global__ void __launch_bounds__(kWarps * 32) attention_kernel(AttnArgs<KV> a) {
  constexpr int kD = 32 * DPL;
  extern __shared__ float smem[];
  float* qs = smem;                          // [kRowsPerCta][kD]
  float* ks = qs + kRowsPerCta * kD;         // [kKeyTile][kD + 1]
  float* vs = ks + kKeyTile * (kD + 1);      // [kKeyTile][kD]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int kvh = blockIdx.y, split = blockIdx.z;
  const int64_t rows = a.n_tokens * a.group;
  const int64_t r0 = int64_t(blockIdx.x) * kRowsPerCta;
  const int64_t kv_dim = int64_t(a.n_head_kv) * a.head_dim, q_dim = int64_t(a.n_head) * a.head_dim;
  const int D = a.head_dim;
  const int64_t first_pos = a.first_pos + (a.pos_base ? *a.pos_base : 0);

  for (int i = threadIdx.x; i < kRowsPerCta * kD; i += blockDim.x) {
    const int64_t r = r0 + i / kD;
    const int d = i % kD;
    float v = 0.0f;
    if (r < rows && d < D) {
      const int64_t t = r / a.group, h = int64_t(kvh) * a.group + r % a.group;
      v = a.q[t * q_dim + h * D + d];
    }
    qs[i] = v;
  }

  // Keys the CTA's rows see: [lo of its first row, end of its last row), then this split's share.
  const int64_t r_last = std::min(rows, r0 + kRowsPerCta) - 1;
  const int64_t end_cta = first_pos + r_last / a.group + 1;
  const int64_t first_end = first_pos + r0 / a.group + 1;
  const int64_t lo_cta = a.window > 0 ? std::max<int64_t>(0, first_end - a.window) : 0;
  const int64_t chunk = ceil_div(ceil_div(end_cta - lo_cta, a.splits), kKeyTile) * kKeyTile;
  const int64_t s_lo = lo_cta + split * chunk;
  const int64_t s_hi = std::min(end_cta, s_lo + chunk);

  float m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][DPL];
  int64_t lo_r[kRowsPerWarp], hi_r[kRowsPerWarp];
#pragma unroll
  for (int j = 0; j < kRowsPerWarp; ++j) {
    m[j] = -INFINITY;
    l[j] = 0.0f;
#pragma unroll
    for (int i = 0; i < DPL; ++i) acc[j][i] = 0.0f;
    const int64_t r = r0 + warp * kRowsPerWarp + j;
    hi_r[j] = r < rows ? first_pos + r / a.group + 1 : 0;
    lo_r[j] = a.window > 0 ? std::max<int64_t>(0, hi_r[j] - a.window) : 0;
  }

  for (int64_t k0 = s_lo; k0 < s_hi; k0 += kKeyTile) {
    __syncthreads();  // the previous tile is consumed (and qs written before the first)
    for (int i = threadIdx.x; i < kKeyTile * kD; i += blockDim.x) {
      const int j = i / kD, d = i % kD;
      const int64_t key = k0 + j;
      float kv = 0.0f, vv = 0.0f;
      if (key < s_hi && d < D) {
        const int64_t at = key * kv_dim + int64_t(kvh) * D + d;
        kv = load_value(a.kc + at);
        vv = load_value(a.vc + at);
      }
      ks[j * (kD + 1) + d] = kv;
      vs[j * kD + d] = vv;
    }
    __syncthreads();
    const int64_t key = k0 + lane;
#pragma unroll
    for (int j = 0; j < kRowsPerWarp; ++j) {
      const float* qrow = qs + (warp * kRowsPerWarp + j) * kD;
      const bool valid = key >= lo_r[j] && key < hi_r[j] && key < s_hi;
      float s = 0.0f;
      for (int d = 0; d < D; ++d) s = fmaf(qrow[d], ks[lane * (kD + 1) + d], s);
      s = valid ? s * a.scale : -INFINITY;
      const float m_new = fmaxf(m[j], warp_max(s));
      if (m_new == -INFINITY) continue;  // nothing visible yet for this row (uniform across the warp)
      const float p = valid ? expf(s - m_new) : 0.0f;
      const float corr = expf(m[j] - m_new);
      l[j] = l[j] * corr + warp_sum(p);
      m[j] = m_new;
#pragma unroll
      for (int i = 0; i < DPL; ++i) acc[j][i] *= corr;
      for (int kk = 0; kk < kKeyTile; ++kk) {
        const float pk = __shfl_sync(0xffffffffu, p, kk);
#pragma unroll
        for (int i = 0; i < DPL; ++i) acc[j][i] = fmaf(pk, vs[kk * kD + lane + 32 * i], acc[j][i]);
      }
    }
  }

#pragma unroll
  for (int j = 0; j < kRowsPerWarp; ++j) {
    const int64_t r = r0 + warp * kRowsPerWarp + j;
    if (r >= rows) continue;
    if (a.splits == 1) {
      const int64_t t = r / a.group, h = int64_t(kvh) * a.group + r % a.group;
      const float inv = 1.0f / l[j];
#pragma unroll
      for (int i = 0; i < DPL; ++i)
        if (lane + 32 * i < D) a.out[t * q_dim + h * D + lane + 32 * i] = acc[j][i] * inv;
    } else {
      const int64_t R = (int64_t(split) * a.n_head_kv + kvh) * rows + r;
#pragma unroll
      for (int i = 0; i < DPL; ++i)
        if (lane + 32 * i < D) a.part_acc[R * D + lane + 32 * i] = acc[j][i];
      if (lane == 0) {
        a.part_ml[2 * R] = m[j];
        a.part_ml[2 * R + 1] = l[j];
      }
    }
  }
}

// One warp per (kv head, row): partial results merged in split order.
template <class KV>
__global__ void combine_kernel(AttnArgs<KV> a) {
  const int lane = threadIdx.x & 31;
  const int64_t rows = a.n_tokens * a.group;
  const int64_t gw = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  if (gw >= rows * a.n_head_kv) return;
  const int64_t kvh = gw / rows, r = gw % rows;
  const int64_t stride = int64_t(a.n_head_kv) * rows;
  float mx = -INFINITY;
  for (int s = 0; s < a.splits; ++s) mx = fmaxf(mx, a.part_ml[2 * (s * stride + gw)]);
  float l = 0.0f;
  for (int s = 0; s < a.splits; ++s) {
    const float ms = a.part_ml[2 * (s * stride + gw)];
    if (ms != -INFINITY) l += a.part_ml[2 * (s * stride + gw) + 1] * expf(ms - mx);
  }
  const int64_t t = r / a.group, h = kvh * a.group + r % a.group;
  const int64_t q_dim = int64_t(a.n_head) * a.head_dim;
  for (int d = lane; d < a.head_dim; d += 32) {
    float v = 0.0f;
    for (int s = 0; s < a.splits; ++s) {
      const float ms = a.part_ml[2 * (s * stride + gw)];
      if (ms != -INFINITY) v += a.part_acc[(s * stride + gw) * a.head_dim + d] * expf(ms - mx);
    }
    a.out[t * q_dim + h * a.head_dim + d] = v / l;
  }
}

template <int DPL, class KV>
void launch(const Context& ctx, const AttnArgs<KV>& a, dim3 grid) {
  constexpr int kD = 32 * DPL;
  const size_t smem = size_t(kRowsPerCta * kD + kKeyTile * (kD + 1) + kKeyTile * kD) * sizeof(float);
  static bool configured = false;  // per process: the attribute belongs to the kernel
  if (!configured) {
    check(cudaFuncSetAttribute(attention_kernel<DPL, KV>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
          "attention smem");
    configured = true;
  }
  attention_kernel<DPL, KV><<<grid, kWarps * 32, smem, ctx.stream>>>(a);
  check_launch("attention");
}

template <class KV>
void store(const Context& ctx, const float* k, const float* v, int64_t count, int64_t kv_dim, int64_t first_pos,
           const KvLayer& kv) {
  kv_store_kernel<<<unsigned(ceil_div(count, 256)), 256, 0, ctx.stream>>>(
      k, v, count, kv_dim, first_pos, ctx.step_position, static_cast<KV*>(kv.keys), static_cast<KV*>(kv.values));
  check_launch("kv_store");
}

template <class KV>
void attend(const Context& ctx, const AttentionShape& s, const float* q, const KV* kc, const KV* vc,
            int64_t first_pos, int64_t n, int64_t capacity, float* out) {
  AttnArgs<KV> a{};
  a.q = q;
  a.kc = kc;
  a.vc = vc;
  a.n_tokens = n;
  a.first_pos = first_pos;
  a.pos_base = ctx.step_position;
  a.window = s.window;
  a.n_head = int(s.n_head);
  a.n_head_kv = int(s.n_head_kv);
  a.head_dim = int(s.head_dim);
  a.group = int(s.n_head / s.n_head_kv);
  a.scale = s.scale;
  a.out = out;
  const int64_t rows = n * a.group;
  const int64_t tiles = ceil_div(rows, kRowsPerCta);
  const int64_t ctas = tiles * s.n_head_kv;
  // Keys one CTA visits at most: split them when the CTAs alone would leave most SMs idle. A
  // one-token step counts the cache's capacity (splits past the last key find nothing to do): the
  // split, and so the bits, must not depend on the position for step graphs to replay it.
  const int64_t end = n == 1 ? capacity : first_pos + n;
  const int64_t keys = s.window > 0 ? std::min<int64_t>(s.window + kRowsPerCta, end) : end;
  int64_t splits = 1;
  if (ctas < 2 * ctx.sm_count)
    splits = std::clamp<int64_t>(ceil_div(2 * ctx.sm_count, ctas), 1, std::max<int64_t>(1, keys / 128));
  splits = std::min<int64_t>(splits, 32);
  a.splits = int(splits);
  if (splits > 1) {
    const size_t per = size_t(s.n_head_kv * rows);
    auto* buf = static_cast<float*>(ctx.ws->get(Workspace::kPartials, per * size_t(splits) * (size_t(s.head_dim) + 2) * 4));
    a.part_acc = buf;
    a.part_ml = buf + per * size_t(splits) * size_t(s.head_dim);
  }
  const dim3 grid(unsigned(tiles), unsigned(s.n_head_kv), unsigned(splits));
  if (s.head_dim <= 64) launch<2>(ctx, a, grid);
  else if (s.head_dim <= 128) launch<4>(ctx, a, grid);
  else launch<8>(ctx, a, grid);
  if (splits > 1) {
    const int64_t warps = s.n_head_kv * rows;
    combine_kernel<<<unsigned(ceil_div(warps * 32, 256)), 256, 0, ctx.stream>>>(a);
    check_launch("attention combine");
  }
}

}  // namespace

void kv_store(const Context& ctx, const float* k, const float* v, int64_t n, int64_t kv_dim, int64_t first_pos,
              const KvLayer& kv) {
  const int64_t count = n * kv_dim;
  if (count <= 0) return;
  if (kv.exact) store<float>(ctx, k, v, count, kv_dim, first_pos, kv);
  else store<__half>(ctx, k, v, count, kv_dim, first_pos, kv);
}

void attention(const Context& ctx, const AttentionShape& s, const float* q, const KvLayer& kv, int64_t first_pos,
               int64_t n, int64_t capacity, float* out) {
  if (n <= 0) return;
  if (kv.exact)
    attend(ctx, s, q, static_cast<const float*>(kv.keys), static_cast<const float*>(kv.values), first_pos, n, capacity, out);
  else
    attend(ctx, s, q, static_cast<const __half*>(kv.keys), static_cast<const __half*>(kv.values), first_pos, n, capacity,
           out);
}

}  // namespace quantlab::cuda
