# Reference values of Rubin's rules for radiorisk (tests/stats/test_rubin.py).
#   cd tests/reference/mice && Rscript mice_reference.R
# Reads completed_1..5.csv (written by make_completed.py), fits survival::coxph (Efron ties) on
# each completed data set and pools them with mice::pool (Rubin's rules, Barnard-Rubin df with
# dfcom = events - coefficients, mice's rule for coxph). Writes
#   fits.csv        per imputation and term: estimate, std.error (broom::tidy of each fit)
#   pooled.csv      mice::pool(...)$pooled (all columns) and summary(pool, conf.int = TRUE)
#   nelsonaalen.csv mice::nelsonaalen on incomplete.csv
suppressPackageStartupMessages({library(survival); library(mice)})
m <- 5
fmt <- function(d) { for (j in names(d)) if (is.numeric(d[[j]])) d[[j]] <- sprintf("%.17g", d[[j]]); d }
fits <- lapply(seq_len(m), function(i) {
  d <- read.csv(sprintf("completed_%d.csv", i))
  coxph(Surv(time, event) ~ age_years + sex_male + diabetes + ldl_mmol_l + log1p_cma_patient +
          tbr_max_patient, data = d, ties = "efron", control = coxph.control(eps = 1e-12, toler.chol = 1e-15, iter.max = 50))
})
per <- do.call(rbind, lapply(seq_len(m), function(i) {
  data.frame(imputation = i, term = names(coef(fits[[i]])), estimate = unname(coef(fits[[i]])),
             std.error = unname(sqrt(diag(vcov(fits[[i]])))))
}))
write.csv(fmt(per), "fits.csv", row.names = FALSE, quote = FALSE)
pooled <- pool(as.mira(fits))
s <- summary(pooled, conf.int = TRUE, conf.level = 0.95)
out <- pooled$pooled
out$term <- as.character(out$term)
out$std.error <- s$std.error
out$conf.low <- s[["2.5 %"]]
out$conf.high <- s[["97.5 %"]]
out$nevent <- fits[[1]]$nevent
write.csv(fmt(out), "pooled.csv", row.names = FALSE, quote = FALSE)
inc <- read.csv("incomplete.csv")
write.csv(fmt(data.frame(time = inc$time, event = inc$event, H = nelsonaalen(inc, time, event))),
          "nelsonaalen.csv", row.names = FALSE, quote = FALSE)
cat("R", R.version$major, R.version$minor, "survival", as.character(packageVersion("survival")),
    "mice", as.character(packageVersion("mice")), "\n")
