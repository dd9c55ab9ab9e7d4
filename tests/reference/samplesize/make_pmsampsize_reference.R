# Reference values from R pmsampsize (Ensor, Riley et al.) for radiorisk.stats sample size.
# Run:  Rscript make_pmsampsize_reference.R   (writes pmsampsize_*.csv beside this file)
# pmsampsize 1.1.3 was installed from its CRAN source into a private library (R_LIBS).
suppressMessages(library(pmsampsize))
out_dir <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
fmt <- function(x) sprintf("%.17g", x)
run <- function(args) tryCatch(do.call(pmsampsize, args), error = function(e) conditionMessage(e))
row_of <- function(res, extra) {
  if (is.character(res)) return(c(extra, error = res))
  t <- res$results_table
  c(extra, error = "", n1 = t[1, 1], n2 = t[2, 1], n3 = t[3, 1], n = res$sample_size,
    shrinkage2 = fmt(t[2, 2]), final_shrinkage = fmt(res$final_shrinkage),
    r2_cs = fmt(if (is.null(res$rsquared)) res$r2a else res$rsquared),
    max_r2 = fmt(res$max_r2a), nagelkerke = fmt(res$nag_r2), events = fmt(res$events),
    epp = fmt(res$EPP),
    int_lci = if (is.null(res$int_lci)) "" else fmt(res$int_lci),
    int_uci = if (is.null(res$int_uci)) "" else fmt(res$int_uci),
    int_cuminc = if (is.null(res$int_cuminc)) "" else fmt(res$int_cuminc))
}
write_rows <- function(rows, file) {
  cols <- unique(unlist(lapply(rows, names)))
  m <- t(sapply(rows, function(r) { v <- r[cols]; v[is.na(v)] <- ""; v }))
  colnames(m) <- cols
  write.csv(m, file.path(out_dir, file), row.names = FALSE)
}
rows <- list()
for (P in c(5, 10, 24, 30, 36, 100, 1130)) for (r2 in c(0.02, 0.05, 0.1, 0.288, 0.55))
  for (prev in c(0.01, 0.05, 0.174, 0.25, 0.5)) {
    res <- run(list(type = "b", csrsquared = r2, parameters = P, prevalence = prev))
    rows[[length(rows) + 1]] <- row_of(res, c(parameters = P, csrsquared = r2, prevalence = prev))
  }
write_rows(rows, "pmsampsize_binary.csv")
rows <- list()
for (P in c(5, 10, 25, 30, 50, 1130)) for (r2 in c(0.01, 0.051, 0.1, 0.2))
  for (rate in c(0.01, 0.065, 0.1)) for (fu in c(1, 2.07, 5)) for (tp in c(1, 2, 5)) {
    res <- run(list(type = "s", csrsquared = r2, parameters = P, rate = rate, timepoint = tp, meanfup = fu))
    rows[[length(rows) + 1]] <- row_of(res, c(parameters = P, csrsquared = r2, rate = rate, meanfup = fu, timepoint = tp))
  }
write_rows(rows, "pmsampsize_survival.csv")
rows <- list()
for (C in c(0.6, 0.7, 0.75, 0.8, 0.89, 0.95)) for (prev in c(0.05, 0.174, 0.5)) {
  res <- run(list(type = "b", cstatistic = C, parameters = 24, prevalence = prev))
  raw <- pmsampsize:::cstat2rsq(cstatistic = C, prevalence = prev, seed = 123456)$R2.coxsnell
  rows[[length(rows) + 1]] <- c(row_of(res, c(parameters = 24, cstatistic = C, prevalence = prev)),
                                r2_cs_unrounded = fmt(raw))
}
write_rows(rows, "pmsampsize_cstatistic.csv")
rows <- list()
for (nag in c(0.1, 0.15, 0.3)) for (prev in c(0.05, 0.174)) {
  res <- run(list(type = "b", nagrsquared = nag, parameters = 24, prevalence = prev))
  rows[[length(rows) + 1]] <- row_of(res, c(type = "b", nagrsquared = nag, parameters = 24, prevalence = prev, rate = "", meanfup = ""))
}
for (nag in c(0.1, 0.15, 0.3)) {
  res <- run(list(type = "s", nagrsquared = nag, parameters = 30, rate = 0.065, timepoint = 2, meanfup = 2.07))
  rows[[length(rows) + 1]] <- row_of(res, c(type = "s", nagrsquared = nag, parameters = 30, prevalence = "", rate = 0.065, meanfup = 2.07))
}
write_rows(rows, "pmsampsize_nagelkerke.csv")
writeLines(c(R.version.string, paste("pmsampsize", packageVersion("pmsampsize"))),
           file.path(out_dir, "pmsampsize_versions.txt"))
