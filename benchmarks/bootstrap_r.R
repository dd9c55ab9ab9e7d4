# The bootstrap of bench_bootstrap.py done in R, replicate by replicate, with the R functions the
# referee README names (survival::concordance, riskRegression::Score, survfit, rms::cph + survest).
#
# Usage: Rscript benchmarks/bootstrap_r.R DATA.csv HORIZON B SEED
# DATA.csv: time, event, risk, stratum, and one 0/1 column g_<k> per group (rows of the group).
# Prints "seconds=<wall>" for B replicates of every group and "per_replicate=<s>".
options(warn = -1)  # coxph.control's "tolerance should be < eps" note for eps = 1e-10
suppressPackageStartupMessages({
  library(survival); library(rms); library(riskRegression); library(prodlim)
})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); t0 <- as.numeric(args[2]); B <- as.integer(args[3]); set.seed(as.integer(args[4]))
gcols <- grep("^g_", names(d), value = TRUE)
metrics <- function(x) {
  out <- c()
  out["harrell_c"] <- concordance(Surv(time, event) ~ risk, data = x, reverse = TRUE)$concordance
  out["uno_c"] <- concordance(Surv(time, event) ~ risk, data = x, reverse = TRUE,
                              timewt = "n/G2", ymax = t0)$concordance
  sc <- Score(list(m = matrix(x$risk)), Surv(time, event) ~ 1, data = x, times = t0,
              metrics = c("auc", "brier"), summary = "ipa", cens.model = "km", null.model = TRUE,
              se.fit = FALSE)
  out["td_auc"] <- sc$AUC$score$AUC[1]
  out["brier_t"] <- sc$Brier$score$Brier[sc$Brier$score$model == "m"]
  out["ipa"] <- sc$Brier$score$IPA[sc$Brier$score$model == "m"]
  km <- survfit(Surv(time, event) ~ 1, data = x)
  out["oe_ratio_t"] <- (1 - summary(km, times = t0, extend = TRUE)$surv) / mean(x$risk)
  x <- data.frame(time = x$time, event = x$event, risk = x$risk)
  x$cll <- log(-log(1 - pmin(pmax(x$risk, 1e-10), 1 - 1e-10)))
  dd <- datadist(x); options(datadist = dd)
  fit <- cph(Surv(time, event) ~ rcs(cll, 3), data = x, x = TRUE, y = TRUE, surv = TRUE, eps = 1e-10)
  # survest(fit, newdata = x, times = t0) for all rows builds an n x (event times) matrix
  # (3 GB and 14 s at n = 5,000; 23 GB at 20,000), so take S(t0 | first row) from survest and
  # scale it by the proportional hazards: the same numbers, computed the way a careful R user would
  lp <- predict(fit, newdata = x, type = "lp")
  s1 <- survest(fit, newdata = x[1, , drop = FALSE], times = t0)$surv
  obs <- 1 - s1^exp(lp - lp[1])
  dif <- abs(obs - x$risk)
  out["ici_t"] <- mean(dif); out["e50_t"] <- median(dif)
  out["e90_t"] <- quantile(dif, 0.9); out["emax_t"] <- max(dif)
  out
}
strata <- split(seq_len(nrow(d)), d$stratum)
start <- proc.time()[["elapsed"]]
for (b in seq_len(B)) {
  idx <- unlist(lapply(strata, function(s) s[sample.int(length(s), length(s), replace = TRUE)]))
  x <- d[idx, ]
  for (g in gcols) invisible(metrics(x[x[[g]] == 1, ]))
}
el <- proc.time()[["elapsed"]] - start
cat(sprintf("seconds=%.3f\nper_replicate=%.4f\n", el, el / B))
