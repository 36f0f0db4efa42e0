#include "quantlab/eval/kld.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace quantlab {

namespace {

// Round to nearest, ties to even: what llama.cpp's float-magic nearest_int does.
inline int nearest_int(float v) { return int(std::nearbyint(v)); }

std::pair<double, double> mean_and_uncertainty(double sum, double sum2, int64_t count) {
  if (count < 1) return {0, 0};
  const double f = sum / double(count);
  double df = sum2 / double(count) - f * f;
  df = df > 0 && count > 10 ? std::sqrt(df / double(count - 1)) : 0.0;
  return {f, df};
}

double covariance(double a, double b, double ab, int64_t count) {
  if (count < 10) return 0;
  return (ab / double(count) - (a / double(count)) * (b / double(count))) / double(count - 1);
}

// Linear interpolation between order statistics, as llama.cpp reports its percentiles.
double percentile(const std::vector<float>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  if (fraction <= 0) return sorted.front();
  if (fraction >= 1) return sorted.back();
  double p = fraction * double(sorted.size() - 1);
  const size_t ip = size_t(p);
  p -= double(ip);
  return (1 - p) * sorted[ip] + p * sorted[std::min(ip + 1, sorted.size() - 1)];
}

double median(const std::vector<float>& s) {
  if (s.empty()) return 0;
  const size_t n = s.size();
  return n % 2 == 0 ? 0.5 * (double(s[n / 2]) + s[n / 2 - 1]) : s[n / 2];
}

}  // namespace

double compress_logprobs(const float* logits, int64_t n_vocab, int32_t correct, uint16_t* out) {
  float max_logit = logits[0], min_logit = logits[0];
  for (int64_t i = 1; i < n_vocab; ++i) {
    max_logit = std::max(max_logit, logits[i]);
    min_logit = std::min(min_logit, logits[i]);
  }
  min_logit = std::max(min_logit, max_logit - 16);
  double sum_exp = 0;
  for (int64_t i = 0; i < n_vocab; ++i) sum_exp += std::exp(logits[i] - max_logit);
  const float log_sum_exp = float(std::log(sum_exp));
  const float min_log_prob = min_logit - max_logit - log_sum_exp;
  const float scale = (max_logit - min_logit) / 65535.f;
  std::memcpy(out, &scale, 4);
  std::memcpy(out + 2, &min_log_prob, 4);
  uint16_t* q = out + 4;
  if (scale != 0) {
    const float inv = 1 / scale;
    for (int64_t i = 0; i < n_vocab; ++i) q[i] = logits[i] > min_logit ? uint16_t(nearest_int(inv * (logits[i] - min_logit))) : 0;
  } else {
    std::memset(q, 0, size_t(n_vocab) * 2);
  }
  if (n_vocab % 2) q[n_vocab] = 0;  // padding word
  return double(max_logit) + log_sum_exp - logits[correct];
}

void KldAccumulator::add(const float* logits, const uint16_t* base, int64_t n_vocab, int32_t correct) {
  float max_logit = logits[0];
  int64_t imax = 0;
  for (int64_t i = 1; i < n_vocab; ++i)
    if (logits[i] > max_logit) max_logit = logits[i], imax = i;
  double sum_exp = 0;
  for (int64_t i = 0; i < n_vocab; ++i) sum_exp += std::exp(logits[i] - max_logit);
  const double log_z = double(max_logit) + std::log(sum_exp);  // log partition function
  float scale, min_log_prob;
  std::memcpy(&scale, base, 4);
  std::memcpy(&min_log_prob, base + 2, 4);
  const uint16_t* q = base + 4;

  const double nll = log_z - logits[correct];
  const double nll_base = -(double(scale) * q[correct] + min_log_prob);
  sum_nll_ += nll, sum_nll2_ += nll * nll;
  sum_nll_base_ += nll_base, sum_nll_base2_ += nll_base * nll_base;
  sum_nll_nll_base_ += nll * nll_base;

  double kld = 0;
  int64_t imax_base = 0;
  float best = 0;
  for (int64_t i = 0; i < n_vocab; ++i) {
    const float lp_base = scale * q[i] + min_log_prob;
    if (i == 0 || lp_base > best) best = lp_base, imax_base = i;
    // Below e^-16 the stored value is a floor, not a probability: llama.cpp skips those terms.
    if (lp_base > -16.f) kld += std::exp(double(lp_base)) * (double(lp_base) - (logits[i] - log_z));
  }
  sum_kld_ += kld, sum_kld2_ += kld * kld;
  same_top_ += imax == imax_base;
  const double dp = std::exp(-nll) - std::exp(-nll_base);
  sum_dp_ += dp, sum_dp2_ += dp * dp, sum_dp4_ += dp * dp * dp * dp;
  kld_values_.push_back(float(kld));
  dp_values_.push_back(float(dp));
}

KldSummary KldAccumulator::summary() const {
  KldSummary s;
  s.count = count();
  if (s.count == 0) return s;
  const auto lp = mean_and_uncertainty(sum_nll_, sum_nll2_, s.count);
  const auto lb = mean_and_uncertainty(sum_nll_base_, sum_nll_base2_, s.count);
  s.ppl = std::exp(lp.first), s.ppl_err = s.ppl * lp.second;
  s.ppl_base = std::exp(lb.first), s.ppl_base_err = s.ppl_base * lb.second;
  const double cov = covariance(sum_nll_, sum_nll_base_, sum_nll_nll_base_, s.count);
  s.ppl_correlation = lp.second > 0 && lb.second > 0 ? cov / (lp.second * lb.second) : 0;
  s.ln_ppl_ratio = lp.first - lb.first;
  s.ln_ppl_ratio_err = std::sqrt(std::max(0.0, lp.second * lp.second + lb.second * lb.second - 2 * cov));
  const auto k = mean_and_uncertainty(sum_kld_, sum_kld2_, s.count);
  s.kld_mean = k.first, s.kld_err = k.second;
  auto kv = kld_values_;
  std::sort(kv.begin(), kv.end());
  s.kld_max = kv.back(), s.kld_min = kv.front(), s.kld_median = median(kv);
  s.kld_p999 = percentile(kv, 0.999), s.kld_p99 = percentile(kv, 0.99), s.kld_p95 = percentile(kv, 0.95);
  s.kld_p90 = percentile(kv, 0.90), s.kld_p10 = percentile(kv, 0.10), s.kld_p05 = percentile(kv, 0.05);
  s.kld_p01 = percentile(kv, 0.01), s.kld_p001 = percentile(kv, 0.001);
  const auto d = mean_and_uncertainty(sum_dp_, sum_dp2_, s.count);
  s.dp_mean = d.first, s.dp_err = d.second;
  auto dv = dp_values_;
  std::sort(dv.begin(), dv.end());
  s.dp_max = dv.back(), s.dp_min = dv.front(), s.dp_median = median(dv);
  s.dp_p999 = percentile(dv, 0.999), s.dp_p99 = percentile(dv, 0.99), s.dp_p95 = percentile(dv, 0.95);
  s.dp_p90 = percentile(dv, 0.90), s.dp_p75 = percentile(dv, 0.75), s.dp_p25 = percentile(dv, 0.25);
  s.dp_p10 = percentile(dv, 0.10), s.dp_p05 = percentile(dv, 0.05), s.dp_p01 = percentile(dv, 0.01);
  s.dp_p001 = percentile(dv, 0.001);
  const auto mse = mean_and_uncertainty(sum_dp2_, sum_dp4_, s.count);
  s.dp_rms = std::sqrt(mse.first);
  s.dp_rms_err = s.dp_rms > 0 ? 0.5 / s.dp_rms * mse.second : 0;
  s.same_top = double(same_top_) / double(s.count);
  s.same_top_err = s.count > 1 ? std::sqrt(s.same_top * (1 - s.same_top) / double(s.count - 1)) : 0;
  return s;
}

}  // namespace quantlab
