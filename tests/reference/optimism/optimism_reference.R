# Reference values of the optimism-corrected bootstrap (tests/models/test_optimism_reference.py).
#   cd tests/reference/optimism && Rscript optimism_reference.R
# Model: Cox, Efron ties, of Surv(time, event) on the 8 covariates of ../referee/cox_whas500.csv.
#
# (a) rms::validate itself. validate.cph -> predab.resample draws, for i in 1:B,
#     train <- sample(n, replace = TRUE) and nothing else from the RNG, refits with
#     coxphFit(iter.max = 10, eps = 1e-4) and measures Dxy = dxy.cens(lp, y, "hazard") and
#     Slope = coxphFit(lp, y)$coef (1 by definition on the training sample). A hand-written loop
#     with the same set.seed, the same sample() calls and the same fitter settings must reproduce
#     rms::validate(fit, B) exactly: checked here (stop() otherwise) and recorded in the JSON.
# (b) The same loop on the index matrix radiorisk draws (indices_whas500.csv, written by
#     make_indices.py; 0-based), with fully converged fits (cph eps = 1e-12, coxph eps = 1e-12),
#     because rms's eps = 1e-4 leaves the refits short of the maximum by up to ~1e-5 and radiorisk
#     converges fully. Both Dxy definitions are recorded: Hmisc's dxy.cens and 2 C - 1 with C from
#     survival::concordance(reverse = TRUE) (radiorisk's harrell_c).
# Writes optimism_whas500.json.
suppressPackageStartupMessages({library(rms); library(jsonlite)})
d <- read.csv("../referee/cox_whas500.csv")
form <- Surv(time, event) ~ age + gender + hr + bmi + sysbp + chf + afb + sho
n <- nrow(d)

## (a) rms::validate and the hand-written loop on R's own resamples -----------------------------
fit <- cph(form, data = d, x = TRUE, y = TRUE)
B_R <- 40; SEED_R <- 20261204
set.seed(SEED_R); v <- rms::validate(fit, B = B_R)  # (jsonlite masks validate)
x <- fit$x; y <- fit$y
loose_fit <- function(xx, yy) coxphFit(x = as.matrix(xx), y = yy, method = "efron", iter.max = 10,
                                       eps = 1e-4, toler.chol = 1e-9, type = "right")
dxy_h <- function(lp, yy) unname(dxy.cens(lp, yy, type = "hazard")["Dxy"])
lp0 <- drop(x %*% fit$coef)
set.seed(SEED_R)
tr_dxy <- te_dxy <- te_slope <- numeric(B_R)
for (i in seq_len(B_R)) {
  train <- sample(n, replace = TRUE)
  f <- loose_fit(x[train, , drop = FALSE], y[train, , drop = FALSE])
  lp <- drop(x %*% f$coef)
  tr_dxy[i] <- dxy_h(lp[train], y[train, , drop = FALSE])
  te_dxy[i] <- dxy_h(lp, y)
  te_slope[i] <- loose_fit(matrix(lp), y)$coef[1]
}
manual <- rbind(
  Dxy = c(dxy_h(lp0, y), mean(tr_dxy), mean(te_dxy), mean(tr_dxy) - mean(te_dxy),
          dxy_h(lp0, y) - (mean(tr_dxy) - mean(te_dxy)), B_R),
  Slope = c(1, 1, mean(te_slope), 1 - mean(te_slope), 1 - (1 - mean(te_slope)), B_R))
rms_tab <- unclass(v)[c("Dxy", "Slope"), c("index.orig", "training", "test", "optimism",
                                            "index.corrected", "n")]
diff_a <- max(abs(manual - rms_tab))
if (diff_a > 1e-12) stop("the hand-written loop does not reproduce rms::validate: max diff ", diff_a)

## (b) the hand-written loop, fully converged, on radiorisk's index matrix ------------------------
idx <- as.matrix(read.csv("indices_whas500.csv", header = FALSE)) + 1L
B <- nrow(idx)
tight <- function(dd) cph(form, data = dd, x = TRUE, y = TRUE, eps = 1e-12, tol = 1e-14, iter.max = 100)
slope <- function(lp, yy) unname(coef(coxph(yy ~ lp, ties = "efron",
                                            control = coxph.control(eps = 1e-12, toler.chol = 1e-14, iter.max = 100))))
harrell <- function(lp, yy) unname(concordance(yy ~ lp, reverse = TRUE)$concordance)
measure <- function(lp, yy) c(harrell_c = harrell(lp, yy), dxy_hmisc = dxy_h(lp, yy),
                              calibration_slope = slope(lp, yy))
f0 <- tight(d)
Y <- Surv(d$time, d$event)
app <- measure(drop(f0$x %*% f0$coef), Y)
train <- test <- matrix(NA_real_, B, 3, dimnames = list(NULL, names(app)))
for (b in seq_len(B)) {
  rows <- idx[b, ]
  fb <- tight(d[rows, ])
  lp <- drop(f0$x %*% fb$coef)   # the refit's linear predictor on every original row
  train[b, ] <- measure(lp[rows], Y[rows])
  test[b, ] <- measure(lp, Y)
}
summ <- function(k) {
  opt <- mean(train[, k]) - mean(test[, k])
  list(apparent = app[[k]], bootstrap_train = mean(train[, k]), bootstrap_test = mean(test[, k]),
       optimism = opt, corrected = app[[k]] - opt, train = unname(train[, k]), test = unname(test[, k]))
}
dxy_c <- function(s) list(apparent = 2 * s$apparent - 1, bootstrap_train = 2 * s$bootstrap_train - 1,
                          bootstrap_test = 2 * s$bootstrap_test - 1, optimism = 2 * s$optimism,
                          corrected = 2 * s$corrected - 1)
hc <- summ("harrell_c")
out <- list(
  fixture = "../referee/cox_whas500.csv", formula = deparse(form), indices = "indices_whas500.csv",
  B = B, harrell_c = hc, dxy = dxy_c(hc), dxy_hmisc = summ("dxy_hmisc"),
  calibration_slope = summ("calibration_slope"),
  max_abs_dxy_hmisc_minus_2c_1 = max(abs(c(train[, "dxy_hmisc"] - (2 * train[, "harrell_c"] - 1),
                                             test[, "dxy_hmisc"] - (2 * test[, "harrell_c"] - 1)))),
  rms_validate = list(seed = SEED_R, B = B_R, table = lapply(split(rms_tab, rownames(rms_tab)),
                                                             function(r) setNames(as.list(r), colnames(rms_tab))),
                      manual_loop_max_abs_diff = diff_a),
  versions = list(R = paste(R.version$major, R.version$minor, sep = "."),
                  rms = as.character(packageVersion("rms")), Hmisc = as.character(packageVersion("Hmisc")),
                  survival = as.character(packageVersion("survival"))))
write(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "optimism_whas500.json")
print(rms_tab); cat("manual loop vs rms::validate, max abs diff:", diff_a, "\n")
cat("radiorisk indices: Dxy corrected", out$dxy$corrected, " slope corrected", out$calibration_slope$corrected, "\n")
