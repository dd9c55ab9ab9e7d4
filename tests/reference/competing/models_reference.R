# Competing-risk MODEL references on the referee fixture competing_synth.csv:
#   cmprsk::crr + predict.crr (Fine-Gray) and riskRegression::CSC + predictRisk (cause-specific Cox).
# Run from this folder:  Rscript models_reference.R   (writes models_reference.json)
suppressPackageStartupMessages({library(cmprsk); library(riskRegression); library(survival)
                                library(prodlim); library(jsonlite)})
d <- read.csv("../referee/competing_synth.csv", colClasses = c(sex = "character", ethnicity = "character"))
r <- pmin(pmax(d$risk, 1e-10), 1 - 1e-10)
df <- data.frame(time = d$time, status = d$status, cll = log(-log(1 - r)),
                 male = as.numeric(d$sex == "M"), black = as.numeric(d$ethnicity == "Black"),
                 southasian = as.numeric(d$ethnicity == "SouthAsian"))
covs <- c("cll", "male", "black", "southasian")
X <- as.matrix(df[, covs])
horizons <- c(12, 36, 60, 120)
rows <- 1:400  # predictions are stored for these rows (of the fit data) to keep the JSON small

# Fine-Gray: crr, predict.crr at each horizon (the last event time <= t, 0 before the first)
fg <- crr(df$time, df$status, cov1 = X, failcode = 1, cencode = 0, gtol = 1e-12, maxiter = 200)
p <- predict(fg, X[rows, , drop = FALSE])
fg_cif <- sapply(horizons, function(h) { i <- findInterval(h, p[, 1]); if (i == 0) rep(0, length(rows)) else p[i, -1] })

# Cause-specific Cox: CSC (coxph, Efron ties, cause-specific hazards), predictRisk for cause 1
fml <- Hist(time, status) ~ cll + male + black + southasian
# CSC converts its data to a data.table in place: give it copies
csc <- CSC(fml, data = data.frame(df))
pl <- predictRisk(csc, newdata = data.frame(df[rows, ]), times = horizons, cause = 1)                       # product.limit = TRUE
ex <- predictRisk(csc, newdata = data.frame(df[rows, ]), times = horizons, cause = 1, product.limit = FALSE) # exp(-Lambda1-Lambda2)

# the same models fitted on the first 700 rows, predicted on rows 701..1100 (out of sample)
tr <- df[1:700, ]; te <- df[701:1100, ]
csc_tr <- CSC(fml, data = data.frame(tr))
fg_tr <- crr(tr$time, tr$status, cov1 = as.matrix(tr[, covs]), failcode = 1, cencode = 0, gtol = 1e-12, maxiter = 200)
p_tr <- predict(fg_tr, as.matrix(te[, covs]))
fg_tr_cif <- sapply(horizons, function(h) { i <- findInterval(h, p_tr[, 1]); if (i == 0) rep(0, nrow(te)) else p_tr[i, -1] })

out <- list(input = "../referee/competing_synth.csv", script = "models_reference.R",
            covariates = covs, horizons = horizons, predict_rows = c(1, 400), r_version = R.version.string,
            packages = list(cmprsk = as.character(packageVersion("cmprsk")),
                            riskRegression = as.character(packageVersion("riskRegression")),
                            survival = as.character(packageVersion("survival")),
                            prodlim = as.character(packageVersion("prodlim")),
                            jsonlite = as.character(packageVersion("jsonlite"))),
            fine_gray = list(coef = unname(fg$coef), se = unname(sqrt(diag(fg$var))),
                             converged = fg$converged, cif = unname(t(fg_cif))),
            csc = list(coef_cause1 = unname(coef(csc$models[[1]])), coef_cause2 = unname(coef(csc$models[[2]])),
                       ties = csc$models[[1]]$method,
                       risk_product_limit = unname(t(pl)), risk_exp = unname(t(ex))),
            split = list(train_rows = c(1, 700), test_rows = c(701, 1100),
                         fine_gray_coef = unname(fg_tr$coef), fine_gray_cif = unname(t(fg_tr_cif)),
                         csc_coef_cause1 = unname(coef(csc_tr$models[[1]])),
                         csc_coef_cause2 = unname(coef(csc_tr$models[[2]])),
                         csc_risk_product_limit = unname(t(predictRisk(csc_tr, newdata = data.frame(te), times = horizons, cause = 1))),
                         csc_risk_exp = unname(t(predictRisk(csc_tr, newdata = data.frame(te), times = horizons, cause = 1,
                                                              product.limit = FALSE)))))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), "models_reference.json")
