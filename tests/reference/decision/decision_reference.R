# Independent reference values of decision curves (net benefit) and of the net reclassification
# improvement (NRI) at t0, overall and per group, on the referee fixtures.
#
# dcurves, nricens and survIDINRI are not installed (Debian bookworm has no package for them), so
# the definitions are written out here with survival::survfit (Kaplan-Meier) and
# cmprsk::cuminc (Aalen-Johansen) for the pieces:
#   net benefit (dcurves::dca for Surv outcomes; Vickers et al. 2008): treated = risk >= pt,
#     NB(pt) = q F(t0 | treated) - q (1 - F(t0 | treated)) pt / (1 - pt), q = P(risk >= pt),
#     0 when nobody is treated; treat-all: F(t0) - (1 - F(t0)) pt / (1 - pt).
#     F = 1 - KM (survival) or the Aalen-Johansen CIF of cause 1 (competing risks).
#   NRI (nricens.km.main, Pencina, Steyerberg & D'Agostino 2011): up/down = the new model's
#     category above/below the old one's (categorical; category = number of cut points <= risk,
#     as nricens' categorize) or risk_new > / < risk_old (category-free);
#     P(up | E) = F_up pi_up / F, P(up | not E) = (1 - F_up) pi_up / (1 - F) (likewise down),
#     NRI_e = P(up | E) - P(down | E), NRI_ne = P(down | not E) - P(up | not E).
#     Competing risks: F the Aalen-Johansen CIF of cause 1; "not E" = no cause-1 event by t0.
#
# The second ("new") risk is made here from the fixture's risk and written to new_risk.csv:
#   survival:  risk_new = round(plogis(qlogis(risk) + 0.7 (ethnicity == Black) - 0.3 (sex == F)), 4)
#   competing: risk_new = round(plogis(qlogis(risk) + 0.8 (ethnicity == SouthAsian) - 0.3 (sex == F)), 4)
#
# Run from the repository root:  Rscript tests/reference/decision/decision_reference.R
suppressPackageStartupMessages({library(survival); library(cmprsk); library(jsonlite)})
out_dir <- "tests/reference/decision"
ref <- "tests/reference/referee"
t0 <- 60
thresholds <- round(seq(0.05, 0.30, by = 0.01), 10)
cuts <- c(0.1, 0.2)

km_risk <- function(time, status) {  # 1 - S_KM(t0), survfit; constant after the last time
  if (length(time) == 0) return(NA_real_)
  f <- survfit(Surv(time, as.integer(status == 1)) ~ 1)
  1 - stepfun(f$time, c(1, f$surv))(t0)
}
aj_risk <- function(time, status) {  # Aalen-Johansen CIF of cause 1 at t0, cmprsk::cuminc
  if (length(time) == 0) return(NA_real_)
  if (!any(status == 1 & time <= t0)) return(0)
  ci <- cuminc(time, status, cencode = 0)
  k <- grep(" 1$", names(ci))
  cc <- ci[[k]]
  stepfun(cc$time[-1], cc$est)(t0)
}

net_benefit <- function(d, F) {
  fall <- F(d$time, d$status)
  model <- sapply(thresholds, function(pt) {
    m <- d$risk >= pt
    if (!any(m)) return(0)
    q <- mean(m); f <- F(d$time[m], d$status[m])
    q * f - q * (1 - f) * pt / (1 - pt)
  })
  list(threshold = thresholds, model = model, treat_all = fall - (1 - fall) * thresholds / (1 - thresholds),
       treated = sapply(thresholds, function(pt) mean(d$risk >= pt)))
}

categorize <- function(p) sapply(p, function(v) sum(v >= cuts))

nri <- function(d, F, up, dwn) {
  fall <- F(d$time, d$status)
  pu <- mean(up); pd <- mean(dwn)
  fu <- if (any(up)) F(d$time[up], d$status[up]) else 0
  fd <- if (any(dwn)) F(d$time[dwn], d$status[dwn]) else 0
  up_e <- fu * pu / fall; dn_e <- fd * pd / fall
  up_ne <- (1 - fu) * pu / (1 - fall); dn_ne <- (1 - fd) * pd / (1 - fall)
  c(events = up_e - dn_e, nonevents = dn_ne - up_ne, nri = up_e - dn_e + dn_ne - up_ne,
    p_up = pu, p_down = pd)
}

one <- function(d, F) {
  list(n = nrow(d), decision = net_benefit(d, F),
       nri_categorical = as.list(nri(d, F, categorize(d$risk_new) > categorize(d$risk),
                                     categorize(d$risk_new) < categorize(d$risk))),
       nri_continuous = as.list(nri(d, F, d$risk_new > d$risk, d$risk_new < d$risk)))
}

run <- function(name, d, F, shift_group, shift) {
  d$risk_new <- round(plogis(qlogis(d$risk) + shift * (d$ethnicity == shift_group) - 0.3 * (d$sex == "F")), 4)
  write.csv(data.frame(risk_new = sprintf("%.4f", d$risk_new)), file.path(out_dir, paste0(name, "_new_risk.csv")),
            row.names = FALSE, quote = FALSE)
  res <- list(overall = list(all = one(d, F)))
  for (a in c("sex", "ethnicity")) {
    res[[a]] <- list()
    for (g in sort(unique(d[[a]]))) res[[a]][[g]] <- one(d[d[[a]] == g, ], F)
  }
  res
}

s <- read.csv(file.path(ref, "survival_synth.csv"), stringsAsFactors = FALSE)
s$status <- s$event
c <- read.csv(file.path(ref, "competing_synth.csv"), stringsAsFactors = FALSE)
out <- list(
  t0 = t0, thresholds = thresholds, cuts = cuts,
  versions = list(R = R.version.string, survival = as.character(packageVersion("survival")),
                  cmprsk = as.character(packageVersion("cmprsk"))),
  survival = run("survival", s, km_risk, "Black", 0.7),
  competing = run("competing", c, aj_risk, "SouthAsian", 0.8))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(out_dir, "decision_reference.json"))
