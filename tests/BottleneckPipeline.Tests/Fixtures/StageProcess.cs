using System.Diagnostics;

namespace BottleneckPipeline.Tests.Fixtures;

/// <summary>Runs a real, built stage executable, to completion or until killed with SIGKILL.</summary>
public static class StageProcess
{
    public sealed record Result(int ExitCode, string StdOut, string StdErr, bool Killed)
    {
        public string Output => StdOut + StdErr;
    }

    public static string Executable(string stage)
    {
        // Tests live in .artifacts/bin/BottleneckPipeline.Tests/<configuration>/; stages beside them.
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Name;
        var exe = Path.Combine(RepoPaths.Root, ".artifacts", "bin", stage, configuration, stage);
        return File.Exists(exe) ? exe : throw new FileNotFoundException($"stage executable not built: {exe}");
    }

    public static Result Run(string stage, params string[] args) => Start(stage, args, killAfter: null);

    /// <summary>Starts the stage and sends it SIGINT (Ctrl+C) as soon as <paramref name="when"/> holds,
    /// if it is still running then.</summary>
    public static Result RunAndInterruptWhen(string stage, Func<bool> when, params string[] args) =>
        Start(stage, args, killAfter: null, interruptWhen: _ => when());

    /// <summary>As <see cref="RunAndInterruptWhen(string, Func{bool}, string[])"/>, with a condition on the stage's process id.</summary>
    public static Result RunAndInterruptWhen(string stage, Func<int, bool> when, params string[] args) =>
        Start(stage, args, killAfter: null, interruptWhen: when);

    /// <summary>Runs the stage with extra environment variables.</summary>
    public static Result RunWithEnvironment(string stage, IReadOnlyDictionary<string, string> environment, params string[] args) =>
        Start(stage, args, killAfter: null, environment);

    /// <summary>Starts the stage and kills it with SIGKILL after the delay (if it is still running).</summary>
    public static Result RunAndKill(string stage, TimeSpan killAfter, params string[] args) => Start(stage, args, killAfter);

    /// <summary>Starts the stage and kills it with SIGKILL (like kill -9) as soon as <paramref name="when"/>
    /// holds for its process id, if it is still running then.</summary>
    public static Result RunAndKillWhen(string stage, Func<int, bool> when, params string[] args) => Start(stage, args, killAfter: null, killWhen: when);

    private static Result Start(string stage, string[] args, TimeSpan? killAfter, IReadOnlyDictionary<string, string>? environment = null,
        Func<int, bool>? interruptWhen = null, Func<int, bool>? killWhen = null)
    {
        // A runner started in the background by a shell without job control (`cmd &`, nohup) ignores SIGINT, and an
        // ignored signal stays ignored across exec: the stage would never see the test's Ctrl+C. env (which execs the
        // stage in its own process, so the pid is the stage's) restores SIGINT's default first.
        var psi = interruptWhen is null ? new ProcessStartInfo(Executable(stage)) : new ProcessStartInfo("env");
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        if (interruptWhen is not null)
        {
            psi.ArgumentList.Add("--default-signal=INT");
            psi.ArgumentList.Add(Executable(stage));
        }
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) psi.Environment[name] = value;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        var killed = false;
        if (interruptWhen is not null)
        {
            while (!p.HasExited && !interruptWhen(p.Id)) Thread.Sleep(10);
            if (!p.HasExited)
            {
                using var signal = Process.Start("kill", ["-INT", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
                signal.WaitForExit();
                killed = true;
            }
        }
        if (killWhen is not null)
        {
            while (!p.HasExited && !killWhen(p.Id)) Thread.Sleep(5);
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
                killed = true;
            }
        }
        if (killAfter is { } delay && !p.WaitForExit(delay))
        {
            p.Kill(entireProcessTree: true); // SIGKILL on Unix: no handler runs, like kill -9
            killed = true;
        }
        if (!p.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{stage} did not finish in 5 minutes");
        }
        p.WaitForExit();
        return new Result(p.ExitCode, stdout.Result, stderr.Result, killed);
    }
}
