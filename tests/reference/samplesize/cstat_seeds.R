suppressMessages(library(pmsampsize))
for (cp in list(c(0.8, 0.174), c(0.6, 0.174))) {
  v <- sapply(1:20, function(s) pmsampsize:::cstat2rsq(cp[1], cp[2], seed = s)$R2.coxsnell)
  cat(sprintf("C=%g prev=%g mean=%.6f sd=%.6f se=%.6f\n", cp[1], cp[2], mean(v), sd(v), sd(v)/sqrt(20)))
}
