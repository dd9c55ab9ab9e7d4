# R reference for competing_edge.csv (make_competing_edge.py): every competing-risk metric of the
# referee README, overall and per site, at t0 = 5.  Run from this folder:  Rscript competing_edge.R
suppressPackageStartupMessages({
  library(survival); library(prodlim); library(riskRegression); library(pec); library(cmprsk)
  library(Hmisc); library(jsonlite)
})
t0 <- 5
d <- read.csv("competing_edge.csv", colClasses = c(site = "character"))

G_km <- function(time, status) {  # censoring KM, events leave first (the README's G)
  u <- sort(unique(time)); Y <- sapply(u, function(s) sum(time >= s))
  dd <- sapply(u, function(s) sum(time == s & status != 0)); cc <- sapply(u, function(s) sum(time == s & status == 0))
  G <- cumprod(ifelse(cc > 0, 1 - cc / (Y - dd), 1))
  list(at = function(x) sapply(x, function(v) if (any(u <= v)) G[max(which(u <= v))] else 1),
       before = function(x) sapply(x, function(v) if (any(u < v)) G[max(which(u < v))] else 1))
}

ccr_direct <- function(time, status, risk) {
  G <- G_km(time, status); num <- 0; den <- 0
  for (i in which(status == 1 & time <= t0)) {
    A <- (time > time[i]) | (time == time[i] & status == 0)
    B <- (status != 0 & status != 1) & time <= time[i]
    w <- ifelse(A, 1 / (G$before(time[i]) * G$at(time[i])), 0)
    if (any(B)) w[B] <- 1 / (G$before(time[i]) * G$before(time[B]))
    w[i] <- 0
    k <- (risk[i] > risk) + 0.5 * (risk[i] == risk)
    num <- num + sum(w * k); den <- den + sum(w)
  }
  num / den
}

one <- function(x) {
  r <- x$risk; n <- nrow(x)
  out <- list(n = n, events = sum(x$status == 1 & x$time <= t0), competing_total = sum(x$status == 2))
  pf <- prodlim(Hist(time, status) ~ 1, data = x)
  sm <- summary(pf, times = t0, cause = 1, surv = FALSE)
  sm <- as.data.frame(if (is.list(sm) && !is.data.frame(sm)) sm[[1]] else sm)
  names(sm) <- sub("^X1[.]", "", names(sm))  # without competing events prodlim is a survival fit
  aj <- sm$cuminc
  out$aj <- list(est = aj, se = sm$se.cuminc, ci95 = c(sm$lower, sm$upper))
  sc <- Score(list(m = matrix(r)), Hist(time, status) ~ 1, data = x, times = t0, cause = 1,
              metrics = c("auc", "brier"), summary = "ipa", cens.model = "km", se.fit = TRUE)
  a <- as.data.frame(sc$AUC$score); b <- as.data.frame(sc$Brier$score)
  out$auc_cr <- list(est = a$AUC[a$model == "m"], se = a$se[a$model == "m"],
                     ci95 = c(a$lower[a$model == "m"], a$upper[a$model == "m"]))
  out$brier_cr <- list(est = b$Brier[b$model == "m"], se = b$se[b$model == "m"],
                       ci95 = c(b$lower[b$model == "m"], b$upper[b$model == "m"]),
                       null = b$Brier[b$model == "Null model"])
  out$ipa_cr <- b$IPA[b$model == "m"]
  out$oe_ratio_cr <- aj / mean(r)
  out$c_cr <- list(direct = ccr_direct(x$time, x$status, r))
  if (any(x$status == 2)) {
    out$c_cr$pec <- pec::cindex(list(m = matrix(r)), Hist(time, status) ~ 1, data = x, eval.times = t0,
                                cause = 1, cens.model = "marginal", verbose = FALSE)$AppCindex$m
  }
  rc <- pmin(pmax(r, 1e-10), 1 - 1e-10); cll <- log(-log(1 - rc))
  Bs <- rcspline.eval(cll, nk = 3, inclx = TRUE)
  f <- crr(x$time, x$status, cov1 = Bs, failcode = 1, cencode = 0, gtol = 1e-12, maxiter = 200)
  p <- predict(f, Bs)
  k <- which(p[, 1] <= t0)
  o <- if (length(k)) p[max(k), -1] else rep(0, n)
  dd <- abs(o - rc)
  crit <- max(abs(f$score) * pmax(abs(f$coef), 1)) / max(abs(f$loglik), 1)
  out$calibration_fg <- list(knots = unname(attr(Bs, "knots")), coef = unname(f$coef), loglik = f$loglik,
                             converged = f$converged, crr_criterion = crit,
                             Lambda0_t0 = if (length(k)) sum(f$bfitj[k]) else 0,
                             ici = mean(dd), e50 = median(dd), e90 = unname(quantile(dd, 0.9)), emax = max(dd))
  out
}

res <- list(overall = one(d))
for (s in sort(unique(d$site))) res[[paste0("site_", s)]] <- one(d[d$site == s, ])
out <- list(input = "competing_edge.csv", script = "competing_edge.R", t0 = t0, r_version = R.version.string,
            packages = lapply(c(survival = "survival", prodlim = "prodlim", riskRegression = "riskRegression",
                                pec = "pec", cmprsk = "cmprsk", Hmisc = "Hmisc", jsonlite = "jsonlite"),
                              function(p) as.character(packageVersion(p))),
            results = res)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "competing_edge.json")
