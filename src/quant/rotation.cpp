// Residual-stream rotation folded into the weights (see the header).
#include "quantlab/quant/rotation.hpp"

#include "quantlab/backend/matmul.hpp"
#include "quantlab/core/error.hpp"

#include <cmath>
#include <memory>
#include <random>

namespace quantlab {
namespace {

// A uniform double in (0, 1] from 53 random bits (std::uniform_real_distribution and
// std::normal_distribution are implementation-defined; these bits are not).
double unit_interval(std::mt19937_64& rng) { return (double(rng() >> 11) + 1.0) * 0x1.0p-53; }

// Box-Muller: the same Gaussian values from the same seed on every standard library.
std::vector<double> gaussians(size_t count, std::mt19937_64& rng) {
  std::vector<double> g(count);
  constexpr double two_pi = 6.283185307179586476925286766559;
  for (size_t i = 0; i < count; i += 2) {
    const double r = std::sqrt(-2.0 * std::log(unit_interval(rng)));
    const double t = two_pi * unit_interval(rng);
    g[i] = r * std::cos(t);
    if (i + 1 < count) g[i + 1] = r * std::sin(t);
  }
  return g;
}

// The Q factor of a Gaussian matrix's QR decomposition (Householder), its columns signed so that
// R's diagonal is positive: a Haar-distributed orthogonal matrix, n x n row-major.
std::vector<double> random_orthogonal(int64_t n, std::mt19937_64& rng) {
  const size_t N = size_t(n);
  std::vector<double> a = gaussians(N * N, rng);
  std::vector<std::vector<double>> reflectors(N);
  std::vector<double> r_sign(N, 1.0);
  for (size_t k = 0; k < N; ++k) {
    double norm2 = 0;
    for (size_t i = k; i < N; ++i) norm2 += a[i * N + k] * a[i * N + k];
    const double norm = std::sqrt(norm2);
    const double x0 = a[k * N + k];
    const double alpha = x0 >= 0 ? -norm : norm;  // R[k][k]
    r_sign[k] = alpha >= 0 ? 1.0 : -1.0;
    std::vector<double> v(N - k);
    for (size_t i = k; i < N; ++i) v[i - k] = a[i * N + k];
    v[0] -= alpha;
    double vn2 = 0;
    for (double x : v) vn2 += x * x;
    if (vn2 > 0) {
      const double inv = 1.0 / std::sqrt(vn2);
      for (double& x : v) x *= inv;
      for (size_t j = k; j < N; ++j) {  // A[k:, j] -= 2 v (v·A[k:, j])
        double d = 0;
        for (size_t i = k; i < N; ++i) d += v[i - k] * a[i * N + j];
        for (size_t i = k; i < N; ++i) a[i * N + j] -= 2 * d * v[i - k];
      }
    }
    reflectors[k] = std::move(v);
  }
  std::vector<double> q(N * N, 0.0);
  for (size_t i = 0; i < N; ++i) q[i * N + i] = 1.0;
  for (size_t k = N; k-- > 0;) {  // Q = H_0 H_1 ... H_{n-1} · I
    const std::vector<double>& v = reflectors[k];
    for (size_t j = 0; j < N; ++j) {
      double d = 0;
      for (size_t i = k; i < N; ++i) d += v[i - k] * q[i * N + j];
      for (size_t i = k; i < N; ++i) q[i * N + j] -= 2 * d * v[i - k];
    }
  }
  for (size_t i = 0; i < N; ++i)
    for (size_t j = 0; j < N; ++j) q[i * N + j] *= r_sign[j];
  return q;
}

// v ← v·Sylvester(m) (unnormalised), m a power of two.
void walsh_hadamard(double* v, int64_t m) {
  for (int64_t h = 1; h < m; h *= 2)
    for (int64_t i = 0; i < m; i += 2 * h)
      for (int64_t j = i; j < i + h; ++j) {
        const double x = v[j], y = v[j + h];
        v[j] = x + y;
        v[j + h] = x - y;
      }
}

}  // namespace

Rotation::Rotation(int64_t n, uint64_t seed, bool force_random) : n_(n), seed_(seed) {
  if (n < 1) throw Error("rotation", "n", "order must be positive, got " + std::to_string(n));
  std::mt19937_64 rng(seed);
  if (!force_random) plan_ = hadamard_plan(n);
  if (plan_) {
    signs_.resize(size_t(n));
    for (double& s : signs_) s = (rng() >> 63) ? -1.0 : 1.0;
    small_ = paley_hadamard(*plan_);
  } else {
    q_ = random_orthogonal(n, rng);
  }
}

Rotation Rotation::identity(int64_t n) {
  Rotation r(1, 0, true);
  r.n_ = n;
  r.q_.clear();
  r.identity_ = true;
  return r;
}

std::string Rotation::construction() const {
  if (identity_) return "identity (norms folded, no rotation)";
  if (plan_) return "randomized " + plan_->describe();
  return "random orthogonal " + std::to_string(n_) + " (QR of a Gaussian)";
}

void Rotation::apply(double* v) const {
  if (identity_) return;
  const size_t N = size_t(n_);
  if (!plan_) {
    std::vector<double> out(N, 0.0);
    for (size_t i = 0; i < N; ++i) {
      const double x = v[i];
      const double* row = q_.data() + i * N;
      for (size_t j = 0; j < N; ++j) out[j] += x * row[j];
    }
    for (size_t j = 0; j < N; ++j) v[j] = out[j];
    return;
  }
  for (size_t i = 0; i < N; ++i) v[i] *= signs_[i];
  const int64_t k = plan_->small_order, m = int64_t(1) << plan_->log2_pow2;
  for (int64_t a = 0; a < k; ++a) walsh_hadamard(v + a * m, m);
  if (k > 1) {  // the Paley factor mixes the k segments, position by position
    std::vector<double> u(static_cast<size_t>(k)), t(static_cast<size_t>(k));
    for (int64_t b = 0; b < m; ++b) {
      for (int64_t a = 0; a < k; ++a) u[size_t(a)] = v[a * m + b];
      for (int64_t c = 0; c < k; ++c) {
        double s = 0;
        for (int64_t a = 0; a < k; ++a) s += small_[size_t(a * k + c)] > 0 ? u[size_t(a)] : -u[size_t(a)];
        t[size_t(c)] = s;
      }
      for (int64_t c = 0; c < k; ++c) v[c * m + b] = t[size_t(c)];
    }
  }
  const double scale = 1.0 / std::sqrt(double(n_));
  for (size_t i = 0; i < N; ++i) v[i] *= scale;
}

std::vector<double> Rotation::dense() const {
  const size_t N = size_t(n_);
  std::vector<double> q(N * N, 0.0);
  for (size_t i = 0; i < N; ++i) {  // row i of Q = e_i·Q
    double* row = q.data() + i * N;
    row[i] = 1.0;
    apply(row);
  }
  return q;
}

namespace {

std::string layer_name(int64_t l, const char* what) { return "blk." + std::to_string(l) + "." + what; }

void refuse_quantized(const Model& m, const WeightMatrix& w, const std::string& name) {
  const FormatTraits& f = format_traits(w.format);
  if (f.is_quantized)
    throw Error(m.source, name,
                "is " + std::string(f.name) + ": rotating rounded weights and rounding them again compounds the error; "
                "rotate the F32/F16/BF16 original (dequantize first: quantize --method gguf --type F32)");
}

std::vector<float> decode_rows(const WeightMatrix& w) {
  std::vector<float> out(size_t(w.rows * w.cols));
  for (int64_t r = 0; r < w.rows; ++r) row_to_f32(w.format, w.row(r), out.data() + r * w.cols, w.cols);
  return out;
}

// W·diag(g)·Q (g may be empty): each row is folded and rotated alone.
RotatedTensor rotate_inputs(std::string name, const WeightMatrix& w, const std::vector<float>& g, const Rotation& q,
                            ThreadPool& pool) {
  RotatedTensor t{std::move(name), w.rows, w.cols, std::vector<float>(size_t(w.rows * w.cols))};
  pool.parallel_for(w.rows, [&](int64_t b, int64_t e, int) {
    std::vector<float> x(size_t(w.cols));
    std::vector<double> v(size_t(w.cols));
    for (int64_t r = b; r < e; ++r) {
      row_to_f32(w.format, w.row(r), x.data(), w.cols);
      for (size_t c = 0; c < x.size(); ++c) v[c] = g.empty() ? double(x[c]) : double(x[c]) * double(g[c]);
      q.apply(v.data());
      float* out = t.values.data() + r * w.cols;
      for (size_t c = 0; c < x.size(); ++c) out[c] = float(v[c]);
    }
  });
  return t;
}

// Qᵀ·W: each column c of W becomes Qᵀ·w_c, i.e. the row vector w_cᵀ·Q.
RotatedTensor rotate_outputs(std::string name, const WeightMatrix& w, const Rotation& q, ThreadPool& pool) {
  const std::vector<float> x = decode_rows(w);
  RotatedTensor t{std::move(name), w.rows, w.cols, std::vector<float>(x.size())};
  const int64_t rows = w.rows, cols = w.cols;
  pool.parallel_for(cols, [&](int64_t b, int64_t e, int) {
    std::vector<double> v(static_cast<size_t>(rows));
    for (int64_t c = b; c < e; ++c) {
      for (int64_t r = 0; r < rows; ++r) v[size_t(r)] = double(x[size_t(r * cols + c)]);
      q.apply(v.data());
      for (int64_t r = 0; r < rows; ++r) t.values[size_t(r * cols + c)] = float(v[size_t(r)]);
    }
  });
  return t;
}

RotatedTensor ones(std::string name, int64_t n) { return {std::move(name), 1, n, std::vector<float>(size_t(n), 1.0f)}; }

}  // namespace

void check_rotatable(const Model& m) {
  const ModelConfig& c = m.config;
  if (c.post_norms)
    throw Error(m.source, "general.architecture",
                c.arch + " cannot be rotated by its weights: its post-attention and post-FFN RMSNorms scale each block's "
                         "output per channel after the linears, which no orthogonal rotation of the residual stream commutes with");
  refuse_quantized(m, m.token_embd, "token_embd.weight");
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const LayerWeights& L = m.layers[size_t(l)];
    const std::pair<const WeightMatrix*, const char*> mats[] = {
        {&L.wq, "attn_q.weight"},     {&L.wk, "attn_k.weight"},   {&L.wv, "attn_v.weight"},    {&L.wo, "attn_output.weight"},
        {&L.ffn_gate, "ffn_gate.weight"}, {&L.ffn_up, "ffn_up.weight"}, {&L.ffn_down, "ffn_down.weight"}};
    for (const auto& [w, name] : mats) refuse_quantized(m, *w, layer_name(l, name));
  }
  if (!c.tied_embeddings) refuse_quantized(m, m.output, "output.weight");
}

void for_each_rotated_tensor(const Model& m, const Rotation& q, ThreadPool& pool,
                             const std::function<void(RotatedTensor&&)>& visit) {
  check_rotatable(m);
  const ModelConfig& c = m.config;
  if (q.n() != c.n_embd)
    throw Error(m.source, "rotation", "order " + std::to_string(q.n()) + " differs from the model's width " + std::to_string(c.n_embd));
  const std::vector<float> none;
  visit(rotate_inputs("token_embd.weight", m.token_embd, none, q, pool));
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const LayerWeights& L = m.layers[size_t(l)];
    visit(ones(layer_name(l, "attn_norm.weight"), c.n_embd));
    visit(rotate_inputs(layer_name(l, "attn_q.weight"), L.wq, L.attn_norm, q, pool));
    visit(rotate_inputs(layer_name(l, "attn_k.weight"), L.wk, L.attn_norm, q, pool));
    visit(rotate_inputs(layer_name(l, "attn_v.weight"), L.wv, L.attn_norm, q, pool));
    visit(rotate_outputs(layer_name(l, "attn_output.weight"), L.wo, q, pool));
    visit(ones(layer_name(l, "ffn_norm.weight"), c.n_embd));
    visit(rotate_inputs(layer_name(l, "ffn_gate.weight"), L.ffn_gate, L.ffn_norm, q, pool));
    visit(rotate_inputs(layer_name(l, "ffn_up.weight"), L.ffn_up, L.ffn_norm, q, pool));
    visit(rotate_outputs(layer_name(l, "ffn_down.weight"), L.ffn_down, q, pool));
  }
  visit(ones("output_norm.weight", c.n_embd));
  visit(rotate_inputs("output.weight", m.output, m.output_norm, q, pool));
}

void rotate_model(Model& m, const Rotation& q, ThreadPool& pool) {
  std::vector<RotatedTensor> all;
  for_each_rotated_tensor(m, q, pool, [&](RotatedTensor&& t) { all.push_back(std::move(t)); });
  auto matrix = [](RotatedTensor& t) {
    auto owned = std::make_shared<std::vector<float>>(std::move(t.values));
    WeightMatrix w = make_weight_matrix(FormatId::F32, owned->data(), t.rows, t.cols);
    w.storage = owned;
    return w;
  };
  size_t i = 0;
  m.token_embd = matrix(all[i++]);
  for (LayerWeights& L : m.layers) {
    L.attn_norm = std::move(all[i++].values);
    L.wq = matrix(all[i++]);
    L.wk = matrix(all[i++]);
    L.wv = matrix(all[i++]);
    L.wo = matrix(all[i++]);
    L.ffn_norm = std::move(all[i++].values);
    L.ffn_gate = matrix(all[i++]);
    L.ffn_up = matrix(all[i++]);
    L.ffn_down = matrix(all[i++]);
  }
  m.output_norm = std::move(all[i++].values);
  m.output = matrix(all[i++]);
  m.config.tied_embeddings = false;
}

}  // namespace quantlab
