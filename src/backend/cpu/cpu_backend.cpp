// The CPU backend: today's kernels (matmul.hpp, ops.hpp) behind the Backend interface. Results are
// those of the kernels themselves: every op computes each output element on one thread in a fixed
// order, so the thread count never changes a bit, and rows are independent, so a batch of tokens
// gives the bits of the same tokens one at a time.
#include "quantlab/backend/backend.hpp"
#include "quantlab/backend/linalg.hpp"
#include "quantlab/backend/matmul.hpp"
#include "quantlab/backend/ops.hpp"
#include "quantlab/core/error.hpp"
#include "quantlab/quant/awq_math.hpp"
#include "src/backend/cpu/awq_clip.hpp"
#include "src/backend/op_checks.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace quantlab {
namespace {

void need(bool ok, const char* op, const std::string& what) {
  if (!ok) throw Error("cpu backend", op, what);
}

void need_f32(const Tensor& t, const char* op, const char* name) {
  need(t.format == FormatId::F32 && t.device.is_cpu(), op, std::string(name) + " must be an f32 host tensor");
  need(t.rows <= 1 || t.row_stride == size_t(t.cols) * sizeof(float), op, std::string(name) + " must be packed");
}

// Keys transposed per head ([layer][kv_dim][capacity]: the scores of 16 positions are one vector of
// FMAs, see attention()), values by position ([layer][capacity][kv_dim]).
class CpuKvCache final : public KvCache {
 public:
  CpuKvCache(int64_t n_layer, int64_t capacity, int64_t kv_dim)
      : n_layer_(n_layer), capacity_(capacity), kv_dim_(kv_dim),
        keys_(size_t(n_layer * capacity * kv_dim), 0.0f), values_(size_t(n_layer * capacity * kv_dim), 0.0f) {}
  int64_t capacity() const override { return capacity_; }
  int64_t n_layer() const { return n_layer_; }
  int64_t kv_dim() const { return kv_dim_; }
  float* keys(int64_t layer) { return keys_.data() + size_t(layer * capacity_ * kv_dim_); }
  float* values(int64_t layer) { return values_.data() + size_t(layer * capacity_ * kv_dim_); }

 private:
  int64_t n_layer_, capacity_, kv_dim_;
  std::vector<float> keys_, values_;
};

// cos/sin of every position a RoPE has been asked for, grown on demand: angles depend only on the
// position, so a table entry is the value rope_angles gives at that position.
struct RopeTable {
  RopeStyle style;
  int64_t n_rot;
  float freq_base, freq_scale;
  std::vector<float> freq_factors;  // a copy: the caller's array may not outlive the table
  std::vector<float> cos, sin;      // [position][n_rot / 2]

  static std::vector<float> factors_of(const RopeParams& p) {
    return p.freq_factors ? std::vector<float>(p.freq_factors, p.freq_factors + p.n_rot / 2) : std::vector<float>{};
  }
  bool matches(const RopeParams& p) const {
    return style == p.style && n_rot == p.n_rot && freq_base == p.freq_base && freq_scale == p.freq_scale &&
           freq_factors == factors_of(p);
  }
};

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(ThreadPool& pool) : pool_(pool) {}

  Device device() const override { return Device{}; }
  std::string describe() const override {
    return std::string("cpu (") + matmul_kernel_name() + ", " + std::to_string(pool_.size()) + " threads)";
  }

  Tensor alloc(FormatId format, int64_t rows, int64_t cols) override {
    need(rows >= 0 && cols >= 0, "alloc", "negative shape");
    const size_t stride = row_bytes(format, cols);
    const size_t bytes = std::max<size_t>(64, (size_t(rows) * stride + 63) / 64 * 64);
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw Error("cpu backend", "alloc", "out of memory allocating " + std::to_string(bytes) + " bytes");
    Tensor t;
    t.format = format;
    t.rows = rows;
    t.cols = cols;
    t.row_stride = stride;
    t.storage = std::shared_ptr<void>(p, std::free);
    t.data = p;
    return t;
  }

  Tensor place(const Tensor& t) override {
    need(t.device.is_cpu(), "place", "tensor on " + t.device.name() + " (copy it to the host first)");
    return t;
  }

  void to_host(const Tensor& t, void* dst) override {
    const size_t packed = row_bytes(t.format, t.cols);
    for (int64_t r = 0; r < t.rows; ++r) {
      uint8_t* to = static_cast<uint8_t*>(dst) + size_t(r) * packed;
      if (to != t.row(r)) std::memcpy(to, t.row(r), packed);  // a host tensor read back into itself
    }
  }

  void from_host(const void* src, Tensor& t) override {
    const size_t packed = row_bytes(t.format, t.cols);
    for (int64_t r = 0; r < t.rows; ++r) {
      const uint8_t* from = static_cast<const uint8_t*>(src) + size_t(r) * packed;
      if (from != t.row(r)) std::memcpy(const_cast<uint8_t*>(t.row(r)), from, packed);
    }
  }

  void zero(Tensor& t) override {
    need(t.device.is_cpu(), "zero", "tensor on " + t.device.name());
    const size_t packed = row_bytes(t.format, t.cols);
    for (int64_t r = 0; r < t.rows; ++r) std::memset(const_cast<uint8_t*>(t.row(r)), 0, packed);
  }

  void copy(const Tensor& src, Tensor& dst) override {
    need(src.device.is_cpu() && dst.device.is_cpu() && src.format == dst.format, "copy", "two host tensors of one format");
    detail::check_same_shape("cpu backend", src, dst, "copy");
    const size_t packed = row_bytes(src.format, src.cols);
    for (int64_t r = 0; r < src.rows; ++r)
      if (dst.row(r) != src.row(r)) std::memcpy(const_cast<uint8_t*>(dst.row(r)), src.row(r), packed);
  }

  void matmul(const Tensor& w, const Tensor& x, Tensor& y) override {
    need_f32(x, "matmul", "x");
    need_f32(y, "matmul", "y");
    need(w.device.is_cpu(), "matmul", "weights on " + w.device.name());
    detail::check_matmul_shapes("cpu backend", w, x, y);
    quantlab::matmul(pool_, w, x.f32(), x.rows, y.f32());
  }

  void column_moments(const Tensor& x, Tensor& sums) override {
    need_f32(x, "column_moments", "x");
    detail::check_column_moments("cpu backend", x, sums, device());
    auto* s = static_cast<double*>(sums.mutable_data());
    quantlab::column_moments(x.f32(), x.rows, x.cols, s, s + x.cols);
  }

  void column_abs_sums(const Tensor& x, Tensor& sums) override {
    need_f32(x, "column_abs_sums", "x");
    detail::check_column_abs_sums("cpu backend", x, sums, device());
    quantlab::column_abs_sums(x.f32(), x.rows, x.cols, static_cast<double*>(sums.mutable_data()));
  }

  void awq_scaled_delta(const Tensor& w, const Tensor& s, const IntGroupGrid& grid, Tensor& delta) override {
    need_f32(w, "awq_scaled_delta", "w");
    need_f32(delta, "awq_scaled_delta", "delta");
    detail::check_awq_scaled_delta("cpu backend", w, s, grid, delta, device());
    const int64_t cols = w.cols, gs = grid.group_size;
    const float* sv = static_cast<const float*>(s.data);
    pool_.parallel_for(w.rows, [&](int64_t r0, int64_t r1, int) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t g = 0; g < cols; g += gs)
          awq_scaled_delta_group(w.f32() + r * cols + g, sv + g, std::min(gs, cols - g), grid.max_code, grid.symmetric,
                                 grid.rule, delta.f32() + r * cols + g);
    });
  }

  void awq_clip(Tensor& w, const Tensor& g, const IntGroupGrid& grid, int clip_grid, int n_shrink) override {
    need_f32(w, "awq_clip", "w");
    need_f32(g, "awq_clip", "g");
    detail::check_awq_clip("cpu backend", w, g, grid, clip_grid, n_shrink, device());
    cpu::awq_clip(pool_, w.f32(), w.rows, w.cols, static_cast<const float*>(g.data), grid, clip_grid, n_shrink);
  }

  double sum_of_products(const Tensor& a, const Tensor& b, double start) override {
    need_f32(a, "sum_of_products", "a");
    need_f32(b, "sum_of_products", "b");
    detail::check_sum_of_products("cpu backend", a, b, device());
    // Rows in parallel, each in column order; their sums then added in row order.
    std::vector<double> rows(size_t(a.rows));
    pool_.parallel_for(a.rows, [&](int64_t r0, int64_t r1, int) {
      for (int64_t r = r0; r < r1; ++r) {
        const float* x = a.f32() + r * a.cols;
        const float* y = b.f32() + r * b.cols;
        double sum = 0;
        for (int64_t c = 0; c < a.cols; ++c) sum += double(x[c]) * double(y[c]);
        rows[size_t(r)] = sum;
      }
    });
    for (double r : rows) start += r;
    return start;
  }

  void gram_accumulate(const Tensor& x, Tensor& sum) override {
    need_f32(x, "gram_accumulate", "x");
    need(sum.format == FormatId::F64 && sum.device.is_cpu() && sum.rows == x.cols && sum.cols == x.cols &&
             sum.row_stride == size_t(x.cols) * sizeof(double),
         "gram_accumulate", "sum must be a packed n x n F64 tensor on the CPU, n = x's columns");
    quantlab::gram_accumulate(static_cast<double*>(sum.mutable_data()), x.f32(), x.rows, x.cols, &pool_);
  }

  bool inverse_upper_cholesky(Tensor& h) override {
    detail::check_factor_shape("cpu backend", h, device());
    return quantlab::inverse_upper_cholesky(static_cast<double*>(h.mutable_data()), h.rows);
  }

  void hessian_in_order(const Tensor& sums, double scale, std::span<const int64_t> perm,
                        std::span<const double> diagonal, Tensor& out) override {
    detail::check_hessian_in_order("cpu backend", sums, perm, diagonal, out, device());
    const int64_t n = out.rows;
    const auto* s = static_cast<const double*>(sums.data);
    auto* o = static_cast<double*>(out.mutable_data());
    pool_.parallel_for(n, [&](int64_t i0, int64_t i1, int) {
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t j = 0; j < n; ++j) {
          const int64_t a = perm[size_t(i)], b = perm[size_t(j)];
          o[i * n + j] = i == j ? diagonal[size_t(i)] : scale * s[a < b ? a * n + b : b * n + a];
        }
    });
  }

  void read_diagonal(const Tensor& h, std::span<double> out) override {
    detail::check_read_diagonal("cpu backend", h, out, device());
    for (int64_t i = 0; i < h.rows; ++i) out[size_t(i)] = reinterpret_cast<const double*>(h.row(i))[i];
  }

  void subtract_transposed_product(const Tensor& a, const Tensor& b, Tensor& c) override {
    detail::check_transposed_product_shapes("cpu backend", a, b, c, device());
    const int64_t k = a.rows, m = a.cols, n = b.cols;
    const float* af = static_cast<const float*>(a.data);
    size_t lda = a.row_stride / sizeof(float);
    std::vector<float> rounded;
    if (a.format == FormatId::F64) {  // each value rounded to f32 first, as the definition says
      rounded.resize(size_t(k * m));
      for (int64_t p = 0; p < k; ++p) {
        const auto* row = reinterpret_cast<const double*>(a.row(p));
        for (int64_t i = 0; i < m; ++i) rounded[size_t(p * m + i)] = float(row[i]);
      }
      af = rounded.data();
      lda = size_t(m);
    }
    quantlab::subtract_transposed_product(c.f32(), int64_t(c.row_stride / sizeof(float)), af, int64_t(lda),
                                          static_cast<const float*>(b.data), int64_t(b.row_stride / sizeof(float)), m,
                                          n, k);
  }

  void embed(const Tensor& table, std::span<const int32_t> ids, float scale, Tensor& out) override {
    need_f32(out, "embed", "out");
    need(out.rows == int64_t(ids.size()) && out.cols == table.cols, "embed", "output shape");
    const int64_t E = table.cols;
    for (size_t t = 0; t < ids.size(); ++t) {
      need(ids[t] >= 0 && ids[t] < table.rows, "embed", "token id " + std::to_string(ids[t]) + " outside the table");
      float* xt = out.f32() + int64_t(t) * E;
      row_to_f32(table.format, table.row(ids[t]), xt, E);
      if (scale != 1.0f)
        for (int64_t i = 0; i < E; ++i) xt[i] *= scale;
    }
  }

  void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y) override {
    need_f32(x, "rms_norm", "x");
    need_f32(y, "rms_norm", "y");
    detail::check_same_shape("cpu backend", x, y, "rms_norm");
    need(weight.format == FormatId::F32 && weight.rows == 1 && weight.cols > 0 && x.cols % weight.cols == 0,
         "rms_norm", "weight must be 1 x group f32 with group dividing the row");
    const int64_t n = x.cols, group = weight.cols;
    const float* w = static_cast<const float*>(weight.data);
    for_rows(x.rows, n, [&](int64_t t) {
      for (int64_t g = 0; g < n; g += group) quantlab::rms_norm(x.f32() + t * n + g, w, y.f32() + t * n + g, group, eps);
    });
  }

  void add(Tensor& x, const Tensor& y) override {
    need_f32(x, "add", "x");
    need_f32(y, "add", "y");
    detail::check_same_shape("cpu backend", x, y, "add");
    const int64_t n = x.cols;
    for_rows(x.rows, n, [&](int64_t t) {
      float* a = x.f32() + t * n;
      const float* b = y.f32() + t * n;
      for (int64_t i = 0; i < n; ++i) a[i] += b[i];
    });
  }

  void add_row(Tensor& x, const Tensor& bias) override {
    need_f32(x, "add_row", "x");
    need(bias.format == FormatId::F32 && bias.rows == 1 && bias.cols == x.cols, "add_row", "bias must be 1 x cols f32");
    const int64_t n = x.cols;
    const float* b = static_cast<const float*>(bias.data);
    for (int64_t t = 0; t < x.rows; ++t)
      for (int64_t i = 0; i < n; ++i) x.f32()[t * n + i] += b[i];
  }

  void scale(Tensor& x, float s) override {
    need_f32(x, "scale", "x");
    const int64_t n = x.cols;
    for_rows(x.rows, n, [&](int64_t t) {
      float* a = x.f32() + t * n;
      for (int64_t i = 0; i < n; ++i) a[i] *= s;
    });
  }

  void rope(Tensor& x, int64_t head_dim, const RopeParams& p, std::span<const int32_t> positions) override {
    need_f32(x, "rope", "x");
    need(head_dim > 0 && x.cols % head_dim == 0 && int64_t(positions.size()) == x.rows && p.n_rot <= head_dim,
         "rope", "shape");
    int32_t last = 0;
    for (int32_t pos : positions) {
      need(pos >= 0, "rope", "negative position");
      last = std::max(last, pos);
    }
    const RopeTable& table = rope_table(p, last);
    const int64_t half = p.n_rot / 2, heads = x.cols / head_dim;
    for_rows(x.rows, x.cols, [&](int64_t t) {
      const int64_t pos = positions[size_t(t)];
      rope_apply(p, table.cos.data() + pos * half, table.sin.data() + pos * half, x.f32() + t * x.cols, heads, head_dim);
    });
  }

  void gated_activation(FfnActivation act, Tensor& gate, const Tensor& up) override {
    need_f32(gate, "gated_activation", "gate");
    need_f32(up, "gated_activation", "up");
    detail::check_same_shape("cpu backend", gate, up, "gated_activation");
    const int64_t n = gate.cols;
    for_rows(gate.rows, 8 * n, [&](int64_t t) {
      float* g = gate.f32() + t * n;
      if (act == FfnActivation::GeluTanh) geglu(g, up.f32() + t * n, g, n);
      else swiglu(g, up.f32() + t * n, g, n);
    });
  }

  void softcap(Tensor& x, float cap) override {
    need_f32(x, "softcap", "x");
    quantlab::softcap(x.f32(), x.rows * x.cols, cap);
  }

  std::unique_ptr<KvCache> make_kv_cache(int64_t n_layer, int64_t capacity, int64_t kv_dim, KvStorage) override {
    need(n_layer > 0 && capacity > 0 && kv_dim > 0, "kv_cache", "empty cache");
    return std::make_unique<CpuKvCache>(n_layer, capacity, kv_dim);
  }

  void attention(const AttentionShape& s, const Tensor& q, const Tensor& k, const Tensor& v, KvCache& cache,
                 int64_t layer, int64_t first_pos, Tensor& out) override {
    auto* c = dynamic_cast<CpuKvCache*>(&cache);
    need(c != nullptr, "attention", "KV cache of another backend");
    need_f32(q, "attention", "q");
    need_f32(k, "attention", "k");
    need_f32(v, "attention", "v");
    need_f32(out, "attention", "out");
    const int64_t n = q.rows, kv_dim = s.n_head_kv * s.head_dim, cap = c->capacity();
    detail::check_attention_shapes("cpu backend", s, q, k, v, out, c->kv_dim(), c->n_layer(), cap, layer, first_pos);
    float* kc = c->keys(layer);
    float* vc = c->values(layer);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t i = 0; i < kv_dim; ++i) kc[i * cap + first_pos + t] = k.f32()[t * kv_dim + i];
    std::memcpy(vc + first_pos * kv_dim, v.f32(), size_t(n * kv_dim) * sizeof(float));
    quantlab::attention(pool_, s, q.f32(), kc, cap, vc, first_pos, n, out.f32());
  }

 private:
  // Runs fn(t) for every row, split across the pool when the work pays for it. Rows are
  // independent, so the split cannot change any result.
  template <class Fn>
  void for_rows(int64_t rows, int64_t work_per_row, Fn&& fn) {
    if (pool_.size() == 1 || rows * work_per_row < (1 << 15)) {
      for (int64_t t = 0; t < rows; ++t) fn(t);
      return;
    }
    pool_.parallel_for(rows, [&](int64_t b, int64_t e, int) {
      for (int64_t t = b; t < e; ++t) fn(t);
    });
  }

  const RopeTable& rope_table(const RopeParams& p, int32_t last_pos) {
    RopeTable* table = nullptr;
    for (RopeTable& t : rope_tables_)
      if (t.matches(p)) table = &t;
    if (!table) {
      rope_tables_.push_back(RopeTable{p.style, p.n_rot, p.freq_base, p.freq_scale, RopeTable::factors_of(p), {}, {}});
      table = &rope_tables_.back();
    }
    RopeParams q = p;
    q.freq_factors = table->freq_factors.empty() ? nullptr : table->freq_factors.data();
    const int64_t half = p.n_rot / 2;
    const int64_t have = half > 0 ? int64_t(table->cos.size()) / half : 0;
    if (have <= last_pos) {
      const int64_t want = std::max<int64_t>(last_pos + 1, 2 * have);
      table->cos.resize(size_t(want * half));
      table->sin.resize(size_t(want * half));
      for (int64_t pos = have; pos < want; ++pos)
        rope_angles(q, pos, table->cos.data() + pos * half, table->sin.data() + pos * half);
    }
    return *table;
  }

  ThreadPool& pool_;
  std::vector<RopeTable> rope_tables_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(ThreadPool& pool) { return std::make_unique<CpuBackend>(pool); }

}  // namespace quantlab
