# Fine-Gray reference fits of cmprsk::crr on the referee fixture competing_synth.csv.
# Run from this folder:  Rscript crr_reference.R   (writes crr_reference.json)
suppressPackageStartupMessages({library(cmprsk); library(survival); library(jsonlite)})
d <- read.csv("../referee/competing_synth.csv", colClasses = c(sex = "character", ethnicity = "character"))
r <- pmin(pmax(d$risk, 1e-10), 1 - 1e-10)
X <- cbind(cll = log(-log(1 - r)), male = as.numeric(d$sex == "M"),
           black = as.numeric(d$ethnicity == "Black"), eastasian = as.numeric(d$ethnicity == "EastAsian"),
           other = as.numeric(d$ethnicity == "Other"), southasian = as.numeric(d$ethnicity == "SouthAsian"))
t_pred <- c(12, 36, 60, 120)
rows_pred <- c(1, 2, 3, 4, 5, 100, 1000, 2000)

one_fit <- function(ftime, fstatus, cov1, failcode = 1, gtol = 1e-12, maxiter = 200) {
  f <- crr(ftime, fstatus, cov1 = cov1, failcode = failcode, cencode = 0, gtol = gtol, maxiter = maxiter)
  rp <- rows_pred[rows_pred <= nrow(cov1)]
  p <- predict(f, cov1[rp, , drop = FALSE])
  # predict.crr gives the CIF at the event times; take the last event time <= t
  idx <- findInterval(t_pred, p[, 1])
  cif <- sapply(seq_along(rp), function(j) ifelse(idx == 0, 0, p[pmax(idx, 1), j + 1]))
  list(coef = unname(f$coef), var = unname(f$var), inf = unname(f$inf), se = unname(sqrt(diag(f$var))),
       se_naive = unname(sqrt(diag(solve(f$inf)))), loglik = f$loglik, score = unname(f$score),
       converged = f$converged, uftime = f$uftime, bfitj = f$bfitj,
       n = length(ftime), n_events = sum(fstatus == failcode),
       predict_rows = rp, predict_times = t_pred, predict_cif = unname(t(cif)))
}

fits <- list()
fits$cause1_all <- one_fit(d$time, d$status, X)
fits$cause2_all <- one_fit(d$time, d$status, X, failcode = 2)
fits$cause1_cll <- one_fit(d$time, d$status, X[, "cll", drop = FALSE])
fits$cause1_defaults <- one_fit(d$time, d$status, X, gtol = 1e-6, maxiter = 10)
sub <- d$ethnicity == "EastAsian"
fits$cause1_eastasian <- one_fit(d$time[sub], d$status[sub], X[sub, c("cll", "male"), drop = FALSE])
# no competing events (competing events recoded as censored): crr equals coxph with Breslow ties
st0 <- ifelse(d$status == 2, 0, d$status)
fits$no_competing <- one_fit(d$time, st0, X)
cx <- coxph(Surv(d$time, st0 == 1) ~ X, ties = "breslow", control = coxph.control(eps = 1e-11, iter.max = 100))
fits$no_competing$coxph_breslow <- list(coef = unname(coef(cx)), se = unname(sqrt(diag(vcov(cx)))),
                                        loglik = cx$loglik[2])

out <- list(input = "../referee/competing_synth.csv", script = "crr_reference.R",
            covariates = colnames(X), r_version = R.version.string,
            packages = list(cmprsk = as.character(packageVersion("cmprsk")),
                            survival = as.character(packageVersion("survival")),
                            jsonlite = as.character(packageVersion("jsonlite"))),
            fits = fits)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "crr_reference.json")
