# Random-effects meta-analysis reference values from metafor::rma.uni, predict.rma and
# confint.rma.uni, for radiorisk.stats.random_effects (tests/stats/test_meta.py).
# Run from this folder:  Rscript metafor_reference.R   (writes metafor_reference.json)
suppressPackageStartupMessages({library(metafor); library(jsonlite)})

# Inputs go through their JSON text first, so that R computes on exactly the numbers the test reads.
roundtrip <- function(x) fromJSON(toJSON(x, digits = NA))

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
sets <- list()
sets$bcg <- list(yi = as.numeric(bcg$yi), sei = sqrt(as.numeric(bcg$vi)),
                 labels = paste(dat.bcg$author, dat.bcg$year), transform = "none",
                 source = "metafor::dat.bcg, escalc(measure = 'RR'): log risk ratios of 13 BCG trials")
# (b) eight made-up sites: C-statistics with their SEs (C scale), O/E ratios with their SEs (O/E scale)
c_est <- c(0.71, 0.62, 0.78, 0.69, 0.74, 0.66, 0.73, 0.70)
c_se <- c(0.021, 0.034, 0.028, 0.019, 0.025, 0.041, 0.030, 0.023)
oe_est <- c(0.95, 1.12, 0.81, 1.04, 1.60, 0.90, 1.08, 0.99)
oe_se <- c(0.080, 0.120, 0.095, 0.070, 0.180, 0.110, 0.100, 0.085)
sites <- paste("site", LETTERS[1:8])
sets$sites_c <- list(estimate = c_est, se = c_se, labels = sites, transform = "logit",
                     source = "made up: 8 sites, C 0.62-0.78, SE of C 0.019-0.041")
sets$sites_oe <- list(estimate = oe_est, se = oe_se, labels = sites, transform = "log",
                      source = "made up: 8 sites, O/E 0.81-1.60, SE of O/E 0.07-0.18")
# (c) edge cases (analysis scale)
sets$k2 <- list(yi = c(0.10, 0.45), sei = c(0.10, 0.15), labels = c("a", "b"), transform = "none",
                source = "k = 2, heterogeneous")
sets$homogeneous <- list(yi = c(0.20, 0.22, 0.19, 0.21, 0.20), sei = c(0.10, 0.12, 0.08, 0.15, 0.11),
                         labels = letters[1:5], transform = "none", source = "tau2 = 0 (Q < k - 1)")
sets$huge_se <- list(yi = c(0.30, 0.10, 0.55, 0.25, 2.00, 0.40), sei = c(0.10, 0.12, 0.09, 0.11, 100, 0.10),
                     labels = letters[1:6], transform = "none", source = "one study with SE = 100")

for (nm in names(sets)) {
  s <- sets[[nm]]
  if (s$transform == "logit") {
    s$estimate <- roundtrip(s$estimate); s$se <- roundtrip(s$se)
    s$yi <- qlogis(s$estimate); s$sei <- s$se / (s$estimate * (1 - s$estimate))
  } else if (s$transform == "log") {
    s$estimate <- roundtrip(s$estimate); s$se <- roundtrip(s$se)
    s$yi <- log(s$estimate); s$sei <- s$se / s$estimate
  } else {
    s$yi <- roundtrip(s$yi); s$sei <- roundtrip(s$sei)
  }
  sets[[nm]] <- s
}

back <- function(tr) switch(tr, logit = plogis, log = exp, none = identity)

one_fit <- function(s, method, test, tight) {
  ctrl <- if (tight) list(threshold = 1e-12, tol = 1e-12) else list()
  res <- rma(yi = s$yi, sei = s$sei, method = method, test = test, control = ctrl)
  k <- res$k
  pr <- predict(res)
  bt <- predict(res, transf = back(s$transform))
  riley <- if (k >= 3) res$b[1] + c(-1, 1) * qt(0.975, k - 2) * sqrt(res$tau2 + res$se^2) else c(NA, NA)
  ci_ctrl <- if (tight) list(tol = 1e-12) else list()
  ci <- confint(res, control = ci_ctrl)$random["tau^2", ]
  list(method = method, test = test, tight = tight, control = ctrl,
       b = res$b[1], se = res$se, ci_lb = res$ci.lb, ci_ub = res$ci.ub, zval = res$zval, pval = res$pval,
       tau2 = res$tau2, se_tau2 = res$se.tau2, tau2_ci = unname(ci[2:3]),
       I2 = res$I2, H2 = res$H2, QE = res$QE, QEp = res$QEp, k = k,
       weights = unname(weights(res)),
       predict = list(pred = pr$pred, ci_lb = pr$ci.lb, ci_ub = pr$ci.ub, pi_lb = pr$pi.lb, pi_ub = pr$pi.ub),
       predict_back = list(pred = bt$pred, ci_lb = bt$ci.lb, ci_ub = bt$ci.ub, pi_lb = bt$pi.lb, pi_ub = bt$pi.ub),
       riley_pi = riley, riley_pi_back = back(s$transform)(riley))
}

fits <- list()
for (nm in names(sets)) for (method in c("REML", "PM", "DL")) for (test in c("z", "knha"))
  for (tight in c(FALSE, TRUE)) {
    key <- paste(nm, method, test, if (tight) "tight" else "default", sep = "_")
    fits[[key]] <- c(list(set = nm), one_fit(sets[[nm]], method, test, tight))
  }

# A set where rma's Fisher scoring cycles ("did not converge", also with stepadj = 0.5 or from the
# optimum): the REML maximum from rma.mv (nlminb) and from optimize() on rma's REML logLik.
cyc <- list(yi = c(0, 0, 0, 0, 0, 1), sei = c(1, 1, 1, 1, 1, 0.25))
cyc$rma_error <- conditionMessage(tryCatch(rma(yi = cyc$yi, sei = cyc$sei, method = "REML"),
                                           error = function(e) e))
mv <- rma.mv(cyc$yi, cyc$sei^2, random = ~ 1 | id, data = data.frame(id = seq_along(cyc$yi)),
             method = "REML")
cyc$rma_mv <- list(tau2 = mv$sigma2, b = mv$b[1])
reml_ll <- function(t) as.numeric(logLik(rma(yi = cyc$yi, sei = cyc$sei, tau2 = t, method = "REML")))
opt <- optimize(reml_ll, c(0, 10), maximum = TRUE, tol = 1e-12)
cyc$optimize <- list(tau2 = opt$maximum, b = rma(yi = cyc$yi, sei = cyc$sei, tau2 = opt$maximum)$b[1],
                     loglik = opt$objective)

# A set where Fisher scoring converges to the boundary maximum tau2 = 0 while the restricted
# likelihood is higher at tau2 > 0 (profile() warns): rma's fit and the maximum by optimize().
loc <- list(yi = c(0, 0, 0, 0, 0, 0, 1), sei = c(1, 1, 1, 1, 0.0625, 0.03125, 0.25))
fit <- rma(yi = loc$yi, sei = loc$sei, method = "REML")
loc$rma <- list(tau2 = fit$tau2, b = fit$b[1], loglik = as.numeric(logLik(fit)))
loc_ll <- function(t) as.numeric(logLik(rma(yi = loc$yi, sei = loc$sei, tau2 = t, method = "REML")))
opt <- optimize(loc_ll, c(0.01, 10), maximum = TRUE, tol = 1e-12)
loc$optimize <- list(tau2 = opt$maximum, loglik = opt$objective)

out <- list(software = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                            jsonlite = as.character(packageVersion("jsonlite"))),
            sets = sets, fits = fits, reml_cycles = cyc, reml_local_max = loc)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"), "metafor_reference.json")
