using System.Diagnostics;
using System.Text.RegularExpressions;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Cluster;

/// <summary>The real Slurm commands and deploy/slurm's scripts, run against the cluster in SLURM_CONF.</summary>
public static partial class Slurm
{
    public static string DeployDir => Path.Combine(RepoPaths.Root, "deploy", "slurm");

    public static string BinDir => Path.Combine(RepoPaths.Root, ".artifacts", "bin");

    public sealed record Chain(string Ingest, string Extract, string Finish);

    /// <summary>deploy/slurm/submit.sh, what make slurm runs.</summary>
    public static (int ExitCode, string Output) Submit(string config, int shards, bool wait) =>
        Run(Path.Combine(DeployDir, "submit.sh"), config, shards.ToString(System.Globalization.CultureInfo.InvariantCulture), wait ? "1" : "0");

    public static Chain Ids(string submitOutput)
    {
        var m = SubmittedLine().Match(submitOutput);
        Assert.True(m.Success, "no job ids in:\n" + submitOutput);
        return new Chain(m.Groups[1].Value, m.Groups[2].Value, m.Groups[3].Value);
    }

    /// <summary>Every job (one per array task) of these ids: task id ("12_3" or "12") to its fields.</summary>
    public static Dictionary<string, Dictionary<string, string>> Jobs(params string[] ids)
    {
        var jobs = new Dictionary<string, Dictionary<string, string>>();
        foreach (var id in ids)
        {
            var (code, output) = Run("scontrol", "-o", "show", "job", id);
            Assert.True(code == 0, $"scontrol show job {id}: {output}");
            foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(f => f.Split('=', 2))
                    .Where(kv => kv.Length == 2).GroupBy(kv => kv[0]).ToDictionary(g => g.Key, g => g.First()[1]);
                var name = fields.TryGetValue("ArrayTaskId", out var task) && fields.TryGetValue("ArrayJobId", out var array)
                    ? $"{array}_{task}"
                    : fields["JobId"];
                jobs[name] = fields;
            }
        }
        return jobs;
    }

    private static readonly string[] Unfinished =
        ["PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SUSPENDED", "RESIZING", "STAGE_OUT", "SIGNALING"];

    /// <summary>Waits until every job of these ids has ended; returns their final fields.</summary>
    public static Dictionary<string, Dictionary<string, string>> WaitForEnd(TimeSpan timeout, params string[] ids)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var jobs = Jobs(ids);
            // A pending array shows as one record for its pending tasks ("12_[2-3]"): not ended either.
            if (jobs.Values.All(j => !Unfinished.Contains(j["JobState"]))) return jobs;
            Assert.True(clock.Elapsed < timeout, "jobs did not end in time: " + string.Join(", ", jobs.Select(j => $"{j.Key} {j.Value["JobState"]}")));
            Thread.Sleep(500);
        }
    }

    public static (int ExitCode, string Output) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(15)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in 15 minutes");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    [GeneratedRegex(@"submitted ingest (\d+), extract (\d+)_\[[^\]]*\], finish (\d+)")]
    private static partial Regex SubmittedLine();
}
