# ICC(2,1) and ICC(3,1) with 95 % CIs from psych::ICC (Shrout & Fleiss, McGraw & Wong),
# for tables written by this script (seeded); run: Rscript make_icc_reference.R
suppressPackageStartupMessages(library(psych))
set.seed(20261203)
tables <- list()
out <- list()
shapes <- list(c(6, 4), c(12, 3), c(30, 8), c(8, 2))
for (t in seq_along(shapes)) {
  n <- shapes[[t]][1]; k <- shapes[[t]][2]
  subj <- rnorm(n, sd = 2)
  rater <- rnorm(k, sd = 0.7)
  x <- outer(subj, rater, "+") + matrix(rnorm(n * k), n, k)
  tables[[t]] <- data.frame(table = t, subject = rep(seq_len(n), k), rater = rep(seq_len(k), each = n),
                            value = as.vector(x))
  r <- psych::ICC(x, lmer = FALSE)$results
  for (kind in c("ICC2", "ICC3")) {
    row <- r[r$type == kind, ]
    out[[length(out) + 1]] <- data.frame(table = t, kind = ifelse(kind == "ICC2", "2,1", "3,1"),
                                         icc = row$ICC, ci_low = row$`lower bound`, ci_high = row$`upper bound`)
  }
}
write.csv(do.call(rbind, tables), "icc_tables.csv", row.names = FALSE)
write.csv(do.call(rbind, out), "icc_psych.csv", row.names = FALSE)
cat("psych", as.character(packageVersion("psych")), "\n")
