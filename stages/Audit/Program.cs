// Audit stage, the data doctor: suspected label errors, near-duplicates (leaks and conflicts) and outliers, found
// from the cached vectors; writes reports/dataset_issues.json. The work is beside this file (AuditStage).
using System.CommandLine;
using BottleneckPipeline.Audit;
using BottleneckPipeline.Hosting;
using BottleneckPipeline.Runtime;

var configOption = StageHost.ConfigOption();
var command = new RootCommand("Audit the dataset from the cached vectors: label errors, near-duplicates, leaks, outliers, class balance.") { configOption };
command.SetAction(parse => StageHost.Execute("audit", parse.GetValue(configOption)!, AuditStage.Sections, (config, db, ct) =>
{
    var outcome = AuditStage.Run(config, db, ct);
    if (outcome.Issues.ClassBalanceWarning is { } warning) Printable.WriteLine($"  warning: {warning}");
    Printable.WriteLine(outcome.Summary);
    return outcome.Summary;
}));
return command.Parse(args).Invoke();
