// make bench: runs every IBenchmark in this assembly in one process, in a scratch folder of its own,
// and writes bench/results.json and bench/results.md.
using System.Reflection;
using BottleneckPipeline.Bench;

// A child of the fine-tune area: one configuration in a process of its own, so its peak RSS is its own.
if (args is [_, "--fine-tune-probe", var probe, var probeSteps, ..])
    return FineTuneBench.Probe(probe, int.Parse(probeSteps, System.Globalization.CultureInfo.InvariantCulture), args.Length > 4 ? args[4] : null);

if (args is [ExtractMemoryBench.ProbeVerb, var dataset, var cacheDir]) return ExtractMemoryBench.Probe(dataset, cacheDir);

var repo = args.Length > 0 ? Path.GetFullPath(args[0]) : Directory.GetCurrentDirectory();
var only = args.Skip(1).Where(a => !a.StartsWith("--")).ToHashSet();
var quick = args.Contains("--quick");
var work = Path.Combine(repo, "bench", "out");
Directory.CreateDirectory(work);
var ctx = new BenchContext { RepoRoot = repo, WorkDir = work, Quick = quick };

var benches = Assembly.GetExecutingAssembly().GetTypes()
    .Where(t => typeof(IBenchmark).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false })
    .Select(t => (IBenchmark)Activator.CreateInstance(t)!)
    .Where(b => only.Count == 0 || only.Contains(b.Name))
    .OrderBy(b => b.Name, StringComparer.Ordinal)
    .ToList();

var failed = 0;
foreach (var b in benches)
{
    Console.WriteLine($"== {b.Name}");
    var rowsBefore = ctx.Rows.Count;
    try { b.Run(ctx); }
    catch (Exception e)
    {
        failed++;
        ctx.Note(b.Name, "FAILED: " + e.Message);
        Console.Error.WriteLine(e);
    }
    // Every area this benchmark wrote rows under (some write more than their own name).
    foreach (var area in ctx.Rows.Skip(rowsBefore).Select(r => r.Area).Append(b.Name).Distinct()) ctx.Measured[area] = BenchReport.MeasuredNow();
}
BenchReport.Write(ctx, Path.Combine(repo, "bench"));
return failed == 0 ? 0 : 1;
