// The CUDA backend: device memory, one stream, one cuBLAS handle; ops check shapes on the host and
// launch the kernels of matmul.cu, elementwise.cu and attention.cu. Weights keep their GGUF block
// layout on the device (place() copies the bytes), activations are packed f32 tensors.
#include "src/backend/op_checks.hpp"
#include "src/backend/cuda/cublas_library.hpp"
#include "src/backend/cuda/cuda_backend.hpp"
#include "src/backend/cuda/cuda_common.cuh"
#include "src/backend/cuda/cusolver_library.hpp"
#include "src/backend/cuda/device_memory.hpp"
#include "src/backend/cuda/kernels.hpp"
#include "src/backend/cuda/step_graph.cuh"

#include "quantlab/core/half.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

namespace quantlab {
namespace cuda {

Workspace::~Workspace() {
  for (size_t i = 0; i < ptr_.size(); ++i) device_free(ptr_[i], size_[i]);
}

void* Workspace::get(Slot slot, size_t bytes) {
  if (bytes <= size_[slot]) return ptr_[slot];
  if (ptr_[slot]) {
    device_free(ptr_[slot], size_[slot]);  // cudaFree waits for the kernels using it
    if (events) events->note();
  }
  ptr_[slot] = nullptr;
  size_[slot] = 0;
  const size_t want = std::max<size_t>(bytes + bytes / 4, 1 << 16);
  ptr_[slot] = device_malloc(want, "workspace alloc");
  size_[slot] = want;
  return ptr_[slot];
}

namespace {

[[noreturn]] void fail(const char* op, const std::string& what) { throw Error("cuda backend", op, what); }

// The CUDA runtime's current device belongs to the calling thread: a backend of GPU N used from
// another thread than the one that made it (a server's workers) must make N current first. Every
// device switch of this file goes through here, so the thread's cached value stays true.
void make_current(int device) {
  thread_local int current = -1;
  if (current != device) {
    check(cudaSetDevice(device), "cudaSetDevice");
    current = device;
  }
}
// The message is built only on failure: these checks run on every op of a decode step.
#define NEED(ok, op, what) \
  do {                     \
    if (!(ok)) fail(op, what); \
  } while (0)


// Freed device buffers kept by size for the next alloc of that size (activations are allocated
// and dropped every layer). Large ones (weights) go back to the driver at once.
class BufferPool {
 public:
  BufferPool(int device, std::shared_ptr<BufferEvents> events) : device_(device), events_(std::move(events)) {}
  ~BufferPool() {
    for (auto& [size, p] : free_) device_free(p, size);
  }
  static size_t rounded(size_t bytes) {
    const size_t g = bytes < (size_t(1) << 20) ? 512 : (size_t(1) << 20);
    return std::max<size_t>(g, (bytes + g - 1) / g * g);
  }
  void* take(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(bytes);
      if (it != free_.end()) {
        void* p = it->second;
        free_.erase(it);
        return p;
      }
    }
    make_current(device_);
    return device_malloc(bytes, "alloc");
  }
  void give(void* p, size_t bytes) {
    events_->note();
    if (bytes >= kMaxCached) {
      device_free(p, bytes);
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    free_.emplace(bytes, p);
  }

 private:
  static constexpr size_t kMaxCached = size_t(64) << 20;
  int device_;
  std::shared_ptr<BufferEvents> events_;
  std::mutex mu_;
  std::multimap<size_t, void*> free_;
};

class CudaKvCache final : public KvCache {
 public:
  CudaKvCache(int64_t n_layer, int64_t capacity, int64_t kv_dim, KvStorage storage)
      : n_layer_(n_layer), capacity_(capacity), kv_dim_(kv_dim),
        value_bytes_(storage == KvStorage::Exact ? sizeof(float) : sizeof(__half)) {
    bytes_ = size_t(n_layer) * size_t(capacity) * size_t(kv_dim) * 2 * value_bytes_;
    base_ = static_cast<char*>(device_malloc(bytes_, "KV cache alloc"));
    check(cudaMemset(base_, 0, bytes_), "KV cache clear");
  }
  ~CudaKvCache() override { device_free(base_, bytes_); }
  int64_t capacity() const override { return capacity_; }
  int64_t n_layer() const { return n_layer_; }
  int64_t kv_dim() const { return kv_dim_; }
  // f32 values (KvStorage::Exact) or f16.
  bool exact() const { return value_bytes_ == sizeof(float); }
  void* keys(int64_t layer) { return base_ + size_t(2 * layer) * size_t(capacity_ * kv_dim_) * value_bytes_; }
  void* values(int64_t layer) { return base_ + size_t(2 * layer + 1) * size_t(capacity_ * kv_dim_) * value_bytes_; }

 private:
  int64_t n_layer_, capacity_, kv_dim_;
  size_t value_bytes_;
  size_t bytes_ = 0;
  char* base_ = nullptr;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(int index, ThreadPool& pool)
      : index_(index), pool_(pool), events_(std::make_shared<BufferEvents>()),
        buffers_(std::make_shared<BufferPool>(index, events_)) {
    (void)pool_;
    workspace_.events = events_.get();
    const char* graphs = std::getenv("QUANTLAB_STEP_GRAPHS");
    graphs_ = !(graphs && std::string(graphs) == "0");
    make_current(index);
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, index), "cudaGetDeviceProperties");
    name_ = prop.name;
    check(cudaStreamCreateWithFlags(&ctx_.stream, cudaStreamNonBlocking), "cudaStreamCreate");
    const CublasLibrary& blas = cublas_library();
    if (blas.create(&ctx_.cublas) != CUBLAS_STATUS_SUCCESS) throw Error("cuda backend", "cuBLAS", "cublasCreate failed");
    blas.set_stream(ctx_.cublas, ctx_.stream);
    ctx_.ws = &workspace_;
    ctx_.sm_count = prop.multiProcessorCount;
    // ggml's GELU table (ops.hpp geglu), computed here exactly as the CPU computes it.
    std::vector<uint16_t> table(1u << 16);
    constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
    constexpr float kCoefA = 0.044715f;
    for (uint32_t i = 0; i < (1u << 16); ++i) {
      const float x = fp16_to_f32(uint16_t(i));
      table[i] = f32_to_fp16(0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + kCoefA * x * x))));
    }
    gelu_ = static_cast<uint16_t*>(device_malloc(table.size() * 2, "GELU table"));
    check(cudaMemcpy(gelu_, table.data(), table.size() * 2, cudaMemcpyHostToDevice), "GELU table");
    ctx_.gelu_table = gelu_;
  }
  ~CudaBackend() override {
    cudaStreamSynchronize(ctx_.stream);
    if (solver_) cusolver_library().destroy(solver_);
    device_free(gelu_, size_t(1) << 17);
    cublas_library().destroy(ctx_.cublas);
    cudaStreamDestroy(ctx_.stream);
  }

  Device device() const override { return Device{DeviceType::Cuda, index_}; }
  std::string describe() const override { return device().name() + " (" + name_ + ")"; }

  Tensor alloc(FormatId format, int64_t rows, int64_t cols) override {
    use_device();
    ++epoch_;  // a new buffer may be one that held rounded activations
    NEED(rows >= 0 && cols >= 0, "alloc", "negative shape");
    const size_t stride = row_bytes(format, cols);
    return device_tensor(format, rows, cols, stride, BufferPool::rounded(size_t(rows) * stride));
  }

  Tensor place(const Tensor& t) override {
    use_device();
    ++epoch_;  // a new buffer may be one that held rounded activations
    if (t.device == device()) return t;
    NEED(t.device.is_cpu(), "place", "tensor on " + t.device.name() + " (copy it to the host first)");
    const size_t packed = row_bytes(t.format, t.cols);
    Tensor d = device_tensor(t.format, t.rows, t.cols, packed, BufferPool::rounded(size_t(t.rows) * packed));
    if (t.rows > 0 && packed > 0)
      check(cudaMemcpy2DAsync(d.mutable_data(), packed, t.data, t.row_stride, packed, size_t(t.rows),
                              cudaMemcpyHostToDevice, ctx_.stream),
            "place");
    check(cudaStreamSynchronize(ctx_.stream), "place");
    return d;
  }

  void to_host(const Tensor& t, void* dst) override {
    use_device();
    NEED(t.device == device(), "to_host", "tensor on " + t.device.name());
    const size_t packed = row_bytes(t.format, t.cols);
    if (t.rows > 0 && packed > 0)
      check(cudaMemcpy2DAsync(dst, packed, t.data, t.row_stride, packed, size_t(t.rows), cudaMemcpyDeviceToHost,
                              ctx_.stream),
            "to_host");
    check(cudaStreamSynchronize(ctx_.stream), "to_host");
  }

  void from_host(const void* src, Tensor& t) override {
    use_device();
    ++epoch_;
    NEED(t.device == device(), "from_host", "tensor on " + t.device.name());
    const size_t packed = row_bytes(t.format, t.cols);
    if (t.rows > 0 && packed > 0)
      check(cudaMemcpy2DAsync(t.mutable_data(), t.row_stride, src, packed, packed, size_t(t.rows),
                              cudaMemcpyHostToDevice, ctx_.stream),
            "from_host");
    // The caller may free or reuse `src` as soon as this returns.
    check(cudaStreamSynchronize(ctx_.stream), "from_host");
  }

  void allow_tf32(bool on) override { ctx_.tf32 = on; }

  void synchronize() override {
    use_device();
    check(cudaStreamSynchronize(ctx_.stream), "synchronize");
  }

  void zero(Tensor& t) override {
    use_device();
    ++epoch_;
    NEED(t.device == device(), "zero", "tensor on " + t.device.name());
    const size_t packed = row_bytes(t.format, t.cols);
    if (t.rows > 0 && packed > 0)
      check(cudaMemset2DAsync(t.mutable_data(), t.row_stride, 0, packed, size_t(t.rows), ctx_.stream), "zero");
  }

  void copy(const Tensor& src, Tensor& dst) override {
    use_device();
    ++epoch_;
    NEED(src.device == device() && dst.device == device() && src.format == dst.format, "copy",
         "two tensors of one format on " + device().name());
    detail::check_same_shape("cuda backend", src, dst, "copy");
    const size_t packed = row_bytes(src.format, src.cols);
    if (src.rows > 0 && packed > 0)
      check(cudaMemcpy2DAsync(dst.mutable_data(), dst.row_stride, src.data, src.row_stride, packed, size_t(src.rows),
                              cudaMemcpyDeviceToDevice, ctx_.stream),
            "copy");
  }

  DeviceMemoryUse memory_use() const override {
    use_device();
    const cuda::MeterReading m = cuda::device_meter(index_);
    DeviceMemoryUse u;
    u.held = m.held;
    u.peak = m.peak;
    check(cudaMemGetInfo(&u.free, &u.total), "cudaMemGetInfo");
    return u;
  }

  void matmul(const Tensor& w, const Tensor& x, Tensor& y) override {
    const Tensor* ws[] = {&w};
    Tensor* ys[] = {&y};
    matmul_group(ws, x, ys);
  }

  void matmul_group(std::span<const Tensor* const> ws, const Tensor& x, std::span<Tensor* const> ys) override {
    use_device();
    need_f32(x, "matmul", "x");
    NEED(ws.size() == ys.size(), "matmul", "as many outputs as weight matrices");
    for (size_t i = 0; i < ws.size(); ++i) {
      const Tensor& w = *ws[i];
      need_f32(*ys[i], "matmul", "y");
      NEED(w.device == device(), "matmul", "weights on " + w.device.name() + " (place them first)");
      ::quantlab::detail::check_matmul_shapes("cuda backend", w, x, *ys[i]);
      NEED(cuda::matmul_supported(w.format), "matmul",
           "no CUDA kernel for weights in " + std::string(format_traits(w.format).name));
    }
    // Runs of matrices in one format go together (Q4_K_M files mix formats within a layer).
    for (size_t i = 0; i < ws.size();) {
      const FormatId f = ws[i]->format;
      std::vector<cuda::MatmulTarget>& targets = targets_;
      targets.clear();
      size_t j = i;
      for (; j < ws.size() && ws[j]->format == f && ws[j]->row_stride == ws[i]->row_stride &&
             targets.size() < size_t(cuda::kMaxMatmulGroup);
           ++j)
        targets.push_back({ws[j]->data, ys[j]->f32(), ws[j]->rows});
      const int mode = cuda::activation_rounding(f);
      const bool reuse = rounded_.valid && rounded_.data == x.data && rounded_.rows == x.rows &&
                         rounded_.cols == x.cols && rounded_.mode == mode && rounded_.epoch == epoch_;
      const bool holds = cuda::matmul(ctx_, f, ws[i]->row_stride, x.cols, targets, x.f32(), x.rows, reuse);
      rounded_ = {x.data, x.rows, x.cols, mode, epoch_, holds};
      // An output may be where a later x was rounded from: the next matmul must round it again.
      for (size_t k = i; k < j; ++k)
        if (rounded_.valid && overlaps(*ys[k], x)) rounded_.valid = false;
      i = j;
    }
  }

  void column_moments(const Tensor& x, Tensor& sums) override {
    use_device();
    need_f32(x, "column_moments", "x");
    detail::check_column_moments("cuda backend", x, sums, device());
    ++epoch_;
    cuda::column_moments(ctx_, x.f32(), x.rows, x.cols, int64_t(x.row_stride / sizeof(float)),
                         static_cast<double*>(sums.mutable_data()));
  }

  void column_abs_sums(const Tensor& x, Tensor& sums) override {
    use_device();
    need_f32(x, "column_abs_sums", "x");
    detail::check_column_abs_sums("cuda backend", x, sums, device());
    ++epoch_;
    cuda::column_abs_sums(ctx_, x.f32(), x.rows, x.cols, int64_t(x.row_stride / sizeof(float)),
                          static_cast<double*>(sums.mutable_data()));
  }

  void awq_scaled_delta(const Tensor& w, const Tensor& s, const IntGroupGrid& grid, Tensor& delta) override {
    use_device();
    detail::check_awq_scaled_delta("cuda backend", w, s, grid, delta, device());
    NEED(w.row_stride == size_t(w.cols) * sizeof(float) && delta.row_stride == w.row_stride, "awq_scaled_delta",
         "w and delta must be packed");
    ++epoch_;
    cuda::awq_scaled_delta(ctx_, w.f32(), static_cast<const float*>(s.data), w.rows, w.cols, grid, delta.f32());
  }

  void awq_clip(Tensor& w, const Tensor& g, const IntGroupGrid& grid, int clip_grid, int n_shrink) override {
    use_device();
    detail::check_awq_clip("cuda backend", w, g, grid, clip_grid, n_shrink, device());
    NEED(w.row_stride == size_t(w.cols) * sizeof(float) && g.row_stride == size_t(g.cols) * sizeof(float), "awq_clip",
         "w and g must be packed");
    ++epoch_;
    cuda::awq_clip(ctx_, w.f32(), static_cast<const float*>(g.data), w.rows, w.cols, grid, clip_grid, n_shrink);
  }

  double sum_of_products(const Tensor& a, const Tensor& b, double start) override {
    use_device();
    detail::check_sum_of_products("cuda backend", a, b, device());
    NEED(a.row_stride == size_t(a.cols) * sizeof(float) && b.row_stride == a.row_stride, "sum_of_products",
         "a and b must be packed");
    ++epoch_;
    return cuda::sum_of_products(ctx_, a.f32(), b.f32(), a.rows, a.cols, start);
  }

  void gram_accumulate(const Tensor& x, Tensor& sum) override {
    use_device();
    need_f32(x, "gram_accumulate", "x");
    NEED(sum.format == FormatId::F64 && sum.device == device() && sum.rows == x.cols && sum.cols == x.cols &&
             sum.row_stride == size_t(x.cols) * sizeof(double),
         "gram_accumulate", "sum must be a packed n x n F64 tensor on " + device().name() + ", n = x's columns");
    ++epoch_;
    cuda::gram_accumulate(ctx_, x.f32(), x.rows, x.cols, static_cast<double*>(sum.mutable_data()));
  }

  bool inverse_upper_cholesky(Tensor& h) override {
    use_device();
    detail::check_factor_shape("cuda backend", h, device());
    ++epoch_;
    if (!solver_) {  // cuSOLVER is opened by the first factorization, never by inference
      const CusolverLibrary& s = cusolver_library();
      NEED(s.create(&solver_) == CUSOLVER_STATUS_SUCCESS, "cuSOLVER", "cusolverDnCreate failed");
      s.set_stream(solver_, ctx_.stream);
    }
    return cuda::inverse_upper_cholesky(ctx_, solver_, static_cast<double*>(h.mutable_data()), h.rows);
  }

  void hessian_in_order(const Tensor& sums, double scale, std::span<const int64_t> perm,
                        std::span<const double> diagonal, Tensor& out) override {
    use_device();
    detail::check_hessian_in_order("cuda backend", sums, perm, diagonal, out, device());
    ++epoch_;
    const int64_t n = out.rows;
    std::vector<uint8_t> host(size_t(n) * (sizeof(double) + sizeof(int32_t)));
    std::memcpy(host.data(), diagonal.data(), size_t(n) * sizeof(double));
    auto* p = reinterpret_cast<int32_t*>(host.data() + size_t(n) * sizeof(double));
    for (int64_t i = 0; i < n; ++i) p[i] = int32_t(perm[size_t(i)]);
    cuda::hessian_in_order(ctx_, static_cast<const double*>(sums.data), scale, upload(host.data(), host.size()), n,
                           static_cast<double*>(out.mutable_data()));
  }

  void read_diagonal(const Tensor& h, std::span<double> out) override {
    use_device();
    detail::check_read_diagonal("cuda backend", h, out, device());
    ++epoch_;
    const int64_t n = h.rows;
    auto* d = static_cast<double*>(workspace_.get(cuda::Workspace::kSmall, size_t(std::max<int64_t>(n, 2)) * sizeof(double)));
    cuda::read_diagonal(ctx_, static_cast<const double*>(h.data), n, d);
    check(cudaMemcpyAsync(out.data(), d, size_t(n) * sizeof(double), cudaMemcpyDeviceToHost, ctx_.stream), "read_diagonal");
    check(cudaStreamSynchronize(ctx_.stream), "read_diagonal");
  }

  void subtract_transposed_product(const Tensor& a, const Tensor& b, Tensor& c) override {
    use_device();
    detail::check_transposed_product_shapes("cuda backend", a, b, c, device());
    ++epoch_;
    const size_t a_elem = a.format == FormatId::F64 ? sizeof(double) : sizeof(float);
    cuda::subtract_transposed_product(ctx_, a.data, a.format == FormatId::F64, int64_t(a.row_stride / a_elem),
                                      static_cast<const float*>(b.data), int64_t(b.row_stride / sizeof(float)), c.f32(),
                                      int64_t(c.row_stride / sizeof(float)), a.cols, b.cols, a.rows);
  }

  bool gptq_int_sweep(const Tensor& wt, const Tensor& u, const GptqIntSweep& spec, std::span<const int64_t> perm,
                      std::span<IntGroupParams> params, std::span<uint8_t> codes, std::span<double> row_loss) override {
    if (spec.block_size < 1 || spec.block_size > cuda::kMaxSweepBlock) return false;
    use_device();
    const int64_t cols = wt.rows, rows = wt.cols;
    NEED(wt.format == FormatId::F32 && wt.row_stride == size_t(rows) * sizeof(float), "gptq_int_sweep",
         "wt must be packed F32");
    NEED(u.format == FormatId::F64 && u.device == device() && u.rows == cols && u.cols == cols &&
             u.row_stride == size_t(cols) * sizeof(double),
         "gptq_int_sweep", "u must be a packed cols x cols F64 tensor on this device");
    NEED(spec.group_size >= 1 && spec.max_code >= 1 && spec.max_code <= 255, "gptq_int_sweep", "grid");
    const int64_t n_groups = (cols + spec.group_size - 1) / spec.group_size;
    NEED(int64_t(perm.size()) == cols && int64_t(params.size()) == rows * n_groups &&
             int64_t(codes.size()) == rows * cols && int64_t(row_loss.size()) == rows,
         "gptq_int_sweep", "perm, params, codes or row_loss of the wrong size");
    NEED(cols < (int64_t(1) << 31), "gptq_int_sweep", "too many columns");
    ++epoch_;
    Tensor w = place(wt);
    std::vector<int32_t> perm32(perm.begin(), perm.end());
    Tensor perm_dev = place(host_tensor(FormatId::I32, perm32.data(), 1, cols));
    Tensor params_dev = alloc(FormatId::F32, rows, n_groups * 2);
    if (spec.fixed_groups) from_host(params.data(), params_dev);
    Tensor codes_dev = alloc(FormatId::I8, rows, cols);
    Tensor loss_dev = alloc(FormatId::F64, 1, rows);
    zero(loss_dev);
    const int64_t bs = spec.block_size;
    Tensor err = alloc(FormatId::F32, bs, rows);
    auto* pd = static_cast<IntGroupParams*>(params_dev.mutable_data());
    for (int64_t i1 = 0; i1 < cols; i1 += bs) {
      const int64_t i2 = std::min(cols, i1 + bs), nb = i2 - i1;
      cuda::gptq_sweep_block(ctx_, w.f32(), static_cast<const double*>(u.data), static_cast<const int32_t*>(perm_dev.data),
                             rows, cols, i1, nb, spec, pd, static_cast<uint8_t*>(codes_dev.mutable_data()), err.f32(),
                             static_cast<double*>(loss_dev.mutable_data()));
      if (i2 < cols)  // W[i2:] -= U[i1:i2, i2:]ᵀ · Err
        cuda::subtract_transposed_product(ctx_, static_cast<const double*>(u.data) + i1 * cols + i2, true, cols, err.f32(),
                                          rows, w.f32() + i2 * rows, rows, cols - i2, rows, nb);
    }
    to_host(codes_dev, codes.data());
    to_host(params_dev, params.data());
    to_host(loss_dev, row_loss.data());
    return true;
  }

  void embed(const Tensor& table, std::span<const int32_t> ids, float scale, Tensor& out) override {
    use_device();
    ++epoch_;
    need_f32(out, "embed", "out");
    NEED(out.rows == int64_t(ids.size()) && out.cols == table.cols, "embed", "output shape");
    for (int32_t id : ids)
      NEED(id >= 0 && id < table.rows, "embed", "token id " + std::to_string(id) + " outside the table");
    if (table.device.is_cpu()) {
      // A host table (a model's embedding stays in host memory): the few rows are decoded there,
      // exactly as the CPU backend decodes them, and uploaded.
      const auto& f = format_traits(table.format);
      NEED(f.to_float != nullptr || table.format == FormatId::F32, "embed", "no decoder for " + std::string(f.name));
      const int64_t E = table.cols;
      std::vector<float> rows(ids.size() * size_t(E));
      for (size_t t = 0; t < ids.size(); ++t) {
        float* xt = rows.data() + t * size_t(E);
        if (table.format == FormatId::F32) std::memcpy(xt, table.row(ids[t]), size_t(E) * sizeof(float));
        else f.to_float(table.row(ids[t]), xt, E);
        if (scale != 1.0f)
          for (int64_t i = 0; i < E; ++i) xt[i] *= scale;
      }
      from_host(rows.data(), out);
      return;
    }
    NEED(table.device == device(), "embed", "table on " + table.device.name());
    NEED(cuda::decode_supported(table.format), "embed",
         "no CUDA decoder for " + std::string(format_traits(table.format).name));
    const int32_t* dev_ids = upload(ids.data(), ids.size() * sizeof(int32_t));
    cuda::embed(ctx_, table.format, table.data, table.row_stride, table.cols, dev_ids, int64_t(ids.size()), scale,
                out.f32());
  }

  void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y) override {
    use_device();
    ++epoch_;
    need_f32(x, "rms_norm", "x");
    need_f32(y, "rms_norm", "y");
    need_f32(weight, "rms_norm", "weight");
    ::quantlab::detail::check_same_shape("cuda backend", x, y, "rms_norm");
    NEED(weight.rows == 1 && weight.cols > 0 && x.cols % weight.cols == 0, "rms_norm",
         "weight must be 1 x group f32 with group dividing the row");
    cuda::rms_norm(ctx_, x.f32(), weight.f32(), x.rows, x.cols, weight.cols, eps, y.f32());
  }

  void add(Tensor& x, const Tensor& y) override {
    use_device();
    ++epoch_;
    need_f32(x, "add", "x");
    need_f32(y, "add", "y");
    ::quantlab::detail::check_same_shape("cuda backend", x, y, "add");
    cuda::add(ctx_, x.f32(), y.f32(), x.rows * x.cols);
  }

  void add_row(Tensor& x, const Tensor& bias) override {
    use_device();
    ++epoch_;
    need_f32(x, "add_row", "x");
    need_f32(bias, "add_row", "bias");
    NEED(bias.rows == 1 && bias.cols == x.cols, "add_row", "bias must be 1 x cols f32");
    cuda::add_row(ctx_, x.f32(), bias.f32(), x.rows, x.cols);
  }

  void scale(Tensor& x, float s) override {
    use_device();
    ++epoch_;
    need_f32(x, "scale", "x");
    cuda::scale(ctx_, x.f32(), x.rows * x.cols, s);
  }

  void rope(Tensor& x, int64_t head_dim, const RopeParams& p, std::span<const int32_t> positions) override {
    use_device();
    ++epoch_;
    need_f32(x, "rope", "x");
    NEED(head_dim > 0 && x.cols % head_dim == 0 && int64_t(positions.size()) == x.rows && p.n_rot <= head_dim &&
             p.n_rot % 2 == 0,
         "rope", "shape");
    for (int32_t pos : positions) NEED(pos >= 0, "rope", "negative position");
    cuda::RopeTables tables;
    const size_t n_ff = size_t(p.n_rot / 2);
    tables.has_factors = p.freq_factors != nullptr;
    const bool inline_pos = positions.size() <= size_t(cuda::RopeTables::kInlinePositions);
    const bool inline_ff = !p.freq_factors || n_ff <= size_t(cuda::RopeTables::kInlineFactors);
    if (inline_pos)
      for (size_t i = 0; i < positions.size(); ++i) tables.inline_positions[i] = int32_t(positions[i] - recorded_at_);
    if (p.freq_factors && inline_ff) std::copy(p.freq_factors, p.freq_factors + n_ff, tables.inline_factors);
    if (!inline_pos || !inline_ff) {
      NEED(ctx_.step_position == nullptr, "rope", "a step graph records at most " +
           std::to_string(cuda::RopeTables::kInlinePositions) + " positions and " +
           std::to_string(cuda::RopeTables::kInlineFactors) + " frequency factors");
      // One upload for what does not fit the kernel's arguments.
      const size_t pos_bytes = inline_pos ? 0 : (positions.size() * sizeof(int32_t) + 15) / 16 * 16;
      const size_t ff_bytes = inline_ff ? 0 : n_ff * sizeof(float);
      staging_.resize(pos_bytes + ff_bytes);
      if (pos_bytes) std::memcpy(staging_.data(), positions.data(), positions.size() * sizeof(int32_t));
      if (ff_bytes) std::memcpy(staging_.data() + pos_bytes, p.freq_factors, ff_bytes);
      const auto* dev = reinterpret_cast<const uint8_t*>(upload(staging_.data(), staging_.size()));
      if (pos_bytes) tables.positions = reinterpret_cast<const int32_t*>(dev);
      if (ff_bytes) tables.factors = reinterpret_cast<const float*>(dev + pos_bytes);
    }
    cuda::rope(ctx_, x.f32(), x.rows, x.cols, head_dim, p, tables);
  }

  void gated_activation(FfnActivation act, Tensor& gate, const Tensor& up) override {
    use_device();
    ++epoch_;
    need_f32(gate, "gated_activation", "gate");
    need_f32(up, "gated_activation", "up");
    ::quantlab::detail::check_same_shape("cuda backend", gate, up, "gated_activation");
    cuda::gated_activation(ctx_, act, gate.f32(), up.f32(), gate.rows * gate.cols);
  }

  void softcap(Tensor& x, float cap) override {
    use_device();
    ++epoch_;
    need_f32(x, "softcap", "x");
    cuda::softcap(ctx_, x.f32(), x.rows * x.cols, cap);
  }

  std::unique_ptr<KvCache> make_kv_cache(int64_t n_layer, int64_t capacity, int64_t kv_dim, KvStorage storage) override {
    use_device();
    ++epoch_;  // a new buffer may be one that held rounded activations
    NEED(n_layer > 0 && capacity > 0 && kv_dim > 0, "kv_cache", "empty cache");
    return std::make_unique<CudaKvCache>(n_layer, capacity, kv_dim, storage);
  }

  void attention(const AttentionShape& s, const Tensor& q, const Tensor& k, const Tensor& v, KvCache& cache,
                 int64_t layer, int64_t first_pos, Tensor& out) override {
    use_device();
    ++epoch_;
    auto* c = dynamic_cast<CudaKvCache*>(&cache);
    NEED(c != nullptr, "attention", "KV cache of another backend");
    need_f32(q, "attention", "q");
    need_f32(k, "attention", "k");
    need_f32(v, "attention", "v");
    need_f32(out, "attention", "out");
    const int64_t n = q.rows, kv_dim = s.n_head_kv * s.head_dim, cap = c->capacity();
    NEED(s.n_head > 0 && s.n_head_kv > 0 && s.n_head % s.n_head_kv == 0 && s.head_dim > 0 && s.head_dim <= 256,
         "attention", "heads: n_head a multiple of n_head_kv, head_dim 1..256");
    ::quantlab::detail::check_attention_shapes("cuda backend", s, q, k, v, out, c->kv_dim(), c->n_layer(), cap, layer, first_pos);
    const int64_t pos = first_pos - recorded_at_;
    const cuda::KvLayer kv{c->keys(layer), c->values(layer), c->exact()};
    cuda::kv_store(ctx_, k.f32(), v.f32(), n, kv_dim, pos, kv);
    cuda::attention(ctx_, s, q.f32(), kv, pos, n, cap, out.f32());
  }

  std::unique_ptr<StepGraph> run_and_record(int64_t position, const std::function<void()>& ops) override {
    use_device();
    ops();  // also sizes every workspace slot the step uses: recording must not allocate
    if (!graphs_) return nullptr;
    int32_t* position_dev = nullptr;
    check(cudaMalloc(&position_dev, sizeof(int32_t)), "step position");
    const uint64_t stamp = events_->stamp();
    ++epoch_;
    check(cudaStreamBeginCapture(ctx_.stream, cudaStreamCaptureModeThreadLocal), "step graph capture");
    ctx_.step_position = position_dev;
    recorded_at_ = position;
    cudaGraph_t graph = nullptr;
    try {
      ops();
    } catch (const Error&) {
      // An op this backend cannot record (e.g. a RoPE with more frequency factors than a kernel's
      // arguments hold): the step has run above, later steps run op by op.
      ctx_.step_position = nullptr;
      recorded_at_ = 0;
      cudaStreamEndCapture(ctx_.stream, &graph);
      if (graph) cudaGraphDestroy(graph);
      cudaGetLastError();  // the capture's error is not sticky; clear it
      cudaFree(position_dev);
      ++epoch_;
      return nullptr;
    }
    ctx_.step_position = nullptr;
    recorded_at_ = 0;
    ++epoch_;  // replays leave the workspace's rounded activations unknown to the host
    check(cudaStreamEndCapture(ctx_.stream, &graph), "step graph capture");
    cudaGraphExec_t exec = nullptr;
    const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    if (e != cudaSuccess) {
      cudaFree(position_dev);
      check(e, "step graph instantiate");
    }
    // A buffer freed meanwhile (any thread) leaves `stamp` behind: the first replay then declines.
    return std::make_unique<cuda::CudaStepGraph>(ctx_.stream, exec, position_dev, events_, stamp);
  }

 private:
  void use_device() const { make_current(index_); }

  void need_f32(const Tensor& t, const char* op, const char* name) const {
    NEED(t.format == FormatId::F32 && t.device == device(), op,
         std::string(name) + " must be an f32 tensor on " + device().name());
    NEED(t.rows <= 1 || t.row_stride == size_t(t.cols) * sizeof(float), op, std::string(name) + " must be packed");
  }

  Tensor device_tensor(FormatId format, int64_t rows, int64_t cols, size_t stride, size_t bytes) {
    std::shared_ptr<BufferPool> pool = buffers_;
    void* p = pool->take(bytes);
    Tensor t;
    t.format = format;
    t.rows = rows;
    t.cols = cols;
    t.row_stride = stride;
    t.device = device();
    t.storage = std::shared_ptr<void>(p, [pool, bytes](void* q) { pool->give(q, bytes); });
    t.data = p;
    return t;
  }

  // Small per-op host data (token ids, positions): copied into the small workspace slot, which the
  // stream order keeps valid until the op's kernel has read it.
  const int32_t* upload(const void* src, size_t bytes) {
    void* dst = workspace_.get(cuda::Workspace::kSmall, std::max<size_t>(bytes, 16));
    if (bytes) check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, ctx_.stream), "upload");
    return static_cast<const int32_t*>(dst);
  }

  static bool overlaps(const Tensor& a, const Tensor& b) {
    const auto* a0 = static_cast<const uint8_t*>(a.data);
    const auto* b0 = static_cast<const uint8_t*>(b.data);
    return a0 < b0 + size_t(b.rows) * b.row_stride && b0 < a0 + size_t(a.rows) * a.row_stride;
  }

  // Activations the workspace holds rounded to 8 bits (q, k and v, or gate and up, share them).
  // `epoch_` counts the ops that may have written device memory since.
  struct RoundedX {
    const void* data;
    int64_t rows, cols;
    int mode;
    uint64_t epoch;
    bool valid;
  };
  RoundedX rounded_{nullptr, 0, 0, 0, 0, false};
  uint64_t epoch_ = 0;

  int index_;
  ThreadPool& pool_;
  std::string name_;
  std::shared_ptr<cuda::BufferEvents> events_;
  std::shared_ptr<BufferPool> buffers_;
  bool graphs_ = true;      // QUANTLAB_STEP_GRAPHS=0 turns recording off (to compare)
  int64_t recorded_at_ = 0;  // while recording: the step's position, which positions are taken from
  cuda::Workspace workspace_;
  cuda::Context ctx_;
  uint16_t* gelu_ = nullptr;
  cusolverDnHandle_t solver_ = nullptr;  // made by the first inverse_upper_cholesky
  std::vector<uint8_t> staging_;
  std::vector<cuda::MatmulTarget> targets_;
};

}  // namespace
}  // namespace cuda

int cuda_device_count_impl() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

std::string cuda_device_name(int index) {
  cudaDeviceProp prop{};
  cuda::check(cudaGetDeviceProperties(&prop, index), "cudaGetDeviceProperties");
  return prop.name;
}

std::unique_ptr<Backend> make_cuda_backend(int index, ThreadPool& pool) {
  const int count = cuda_device_count_impl();
  if (index < 0 || index >= count)
    throw Error("--device", "cuda:" + std::to_string(index),
                count == 0 ? "no CUDA GPU found" : "only " + std::to_string(count) + " CUDA GPU(s) found");
  return std::make_unique<cuda::CudaBackend>(index, pool);
}

}  // namespace quantlab
