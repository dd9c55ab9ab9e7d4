# Reference values of the survival calibration slope / calibration-in-the-large (Cox recalibration
# on cloglog(risk)) and of the Greenwood-Nam-D'Agostino (GND) test, overall and per group, on the
# referee fixtures; and of p.adjust (Holm, BH) on a fixed vector of p-values.
#
# Run from the repository root:  Rscript tests/reference/calibration_tests/calibration_tests.R
# Writes tests/reference/calibration_tests/calibration_tests.csv and p_adjust.csv.
suppressPackageStartupMessages(library(survival))
out_dir <- "tests/reference/calibration_tests"
ref <- "tests/reference/referee"

cll_of <- function(risk) {
  r <- pmin(pmax(risk, 1e-10), 1 - 1e-10)
  log(-log(1 - r))
}

# Cox recalibration at t0: outcome administratively censored at t0, Efron ties, fully converged.
slope_and_citl <- function(d, t0) {
  d$cll <- cll_of(d$risk)
  d$tt <- pmin(d$time, t0)
  d$ee <- as.integer(d$event == 1 & d$time <= t0)
  ctl <- coxph.control(eps = 1e-10, iter.max = 100)
  f <- coxph(Surv(tt, ee) ~ cll, data = d, ties = "efron", control = ctl)
  b <- unname(coef(f)); se <- unname(sqrt(vcov(f))[1, 1])
  # calibration in the large: slope fixed at 1 (offset), log of the baseline cumulative hazard
  # at t0 (Efron increments, survfit's default for an Efron fit); SE of log H0 by the delta method
  f0 <- coxph(Surv(tt, ee) ~ offset(cll), data = d, ties = "efron")
  s <- summary(survfit(f0, newdata = data.frame(cll = 0)), times = t0, extend = TRUE)
  a <- log(s$cumhaz); se_a <- s$std.chaz / s$cumhaz
  z <- qnorm(0.975)
  c(cal_slope_t = b, cal_slope_t_se = se, cal_slope_t_low = b - z * se, cal_slope_t_high = b + z * se,
    cal_intercept_t = a, cal_intercept_t_se = se_a, cal_intercept_t_low = a - z * se_a,
    cal_intercept_t_high = a + z * se_a)
}

# Risk groups: deciles of the predicted risk, cut(risk, unique(type-7 quantiles), include.lowest),
# then adjacent groups merged while one has fewer than min_events events by t0 (the lowest such
# group joins the next higher group; the highest joins the one below).
risk_groups <- function(risk, ev, n_groups = 10, min_events = 5) {
  br <- unique(quantile(risk, seq(0, 1, length.out = n_groups + 1), type = 7, names = FALSE))
  g <- if (length(br) < 2) rep(1L, length(risk)) else as.integer(cut(risk, br, include.lowest = TRUE))
  repeat {
    lev <- sort(unique(g))
    if (length(lev) < 2) break
    e <- sapply(lev, function(k) sum(ev[g == k]))
    i <- which(e < min_events)[1]
    if (is.na(i)) break
    j <- if (i < length(lev)) i + 1 else i - 1
    g[g == lev[i]] <- lev[j]
  }
  as.integer(factor(g))
}

# GND (Demler, Paynter & Cook 2015): per group the Kaplan-Meier risk at t0 (data censored at t0) and
# its Greenwood variance; chi2 = sum (KM risk - mean predicted)^2 / var (a term with var 0 counts
# 0, as in the authors' GND.calib), df = groups - 1.
gnd <- function(d, t0) {
  tt <- pmin(d$time, t0); ee <- as.integer(d$event == 1 & d$time <= t0)
  g <- risk_groups(d$risk, ee)
  G <- length(unique(g))
  if (G < 2) return(c(gnd_chi2 = NA, gnd_df = NA, gnd_p = NA, gnd_groups = G))
  chi <- 0
  for (k in sort(unique(g))) {
    s <- summary(survfit(Surv(tt[g == k], ee[g == k]) ~ 1, error = "greenwood"), times = t0,
                 extend = TRUE)
    v <- s$std.err^2   # Greenwood SE of S(t0)
    term <- if (v == 0) 0 else ((1 - s$surv) - mean(d$risk[g == k]))^2 / v
    chi <- chi + term
  }
  c(gnd_chi2 = chi, gnd_df = G - 1, gnd_p = pchisq(chi, G - 1, lower.tail = FALSE), gnd_groups = G)
}

rows <- list()
add <- function(dataset, attribute, group, d, t0) {
  v <- c(slope_and_citl(d, t0), gnd(d, t0))
  rows[[length(rows) + 1]] <<- data.frame(dataset = dataset, attribute = attribute, group = group,
                                          quantity = names(v), value = unname(v))
}
for (spec in list(list("survival_synth", 60, c("sex", "ethnicity")),
                  list("survival_whas500", 365, c("gender")))) {
  d <- read.csv(file.path(ref, paste0(spec[[1]], ".csv")), stringsAsFactors = FALSE)
  add(spec[[1]], "overall", "all", d, spec[[2]])
  for (a in spec[[3]]) for (lv in sort(unique(as.character(d[[a]])))) {
    add(spec[[1]], a, lv, d[as.character(d[[a]]) == lv, ], spec[[2]])
  }
}
# Competing risks: Fine-Gray (crr) recalibration slope and calibration-in-the-large of cause 1,
# outcome censored at t0.
suppressPackageStartupMessages(library(cmprsk))
fg_slope <- function(d, t0) {
  st <- ifelse(d$time <= t0, d$status, 0)
  f <- crr(pmin(d$time, t0), st, cov1 = cll_of(d$risk), failcode = 1, cencode = 0,
           gtol = 1e-12, maxiter = 200)
  b <- unname(f$coef); se <- sqrt(f$var[1, 1]); z <- qnorm(0.975)
  # calibration in the large: the slope held at 1 (init = 1, no iteration), log of the baseline
  # cumulative subdistribution hazard at t0 from crr's jumps
  f1 <- crr(pmin(d$time, t0), st, cov1 = cll_of(d$risk), failcode = 1, cencode = 0, init = 1, maxiter = 0)
  a <- log(sum(f1$bfitj[f1$uftime <= t0]))
  c(cal_slope_cr = b, cal_slope_cr_se = se, cal_slope_cr_low = b - z * se, cal_slope_cr_high = b + z * se,
    cal_intercept_cr = a)
}
d <- read.csv(file.path(ref, "competing_synth.csv"), stringsAsFactors = FALSE)
subs <- list(list("overall", "all", d))
for (a in c("sex", "ethnicity")) for (lv in sort(unique(d[[a]]))) subs[[length(subs) + 1]] <- list(a, lv, d[d[[a]] == lv, ])
for (s in subs) {
  v <- fg_slope(s[[3]], 60)
  rows[[length(rows) + 1]] <- data.frame(dataset = "competing_synth", attribute = s[[1]], group = s[[2]],
                                         quantity = names(v), value = unname(v))
}
res <- do.call(rbind, rows)
write.csv(res, file.path(out_dir, "calibration_tests.csv"), row.names = FALSE)

p <- c(0.01, 0.04, 0.03, NA, 0.005, 0.2, 0.04, 0.9, 0.0001, 0.5)
write.csv(data.frame(p = p, holm = p.adjust(p, "holm"), bh = p.adjust(p, "BH")),
          file.path(out_dir, "p_adjust.csv"), row.names = FALSE, na = "")
cat(R.version.string, "survival", as.character(packageVersion("survival")), "cmprsk",
    as.character(packageVersion("cmprsk")), "\n")
