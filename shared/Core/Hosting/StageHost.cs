using System.CommandLine;
using BottleneckPipeline.Config;
using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;
using Microsoft.Data.Sqlite;

namespace BottleneckPipeline.Hosting;

/// <summary>
/// What every stage executable shares: the --config option, loading and validating the config
/// before any work, the workspace lock, the runs-table record, and turning errors into the
/// documented exit codes with a message that says what to do.
/// </summary>
public static class StageHost
{
    public static Option<string> ConfigOption() => new("--config")
    {
        Description = "Pipeline config file.",
        DefaultValueFactory = _ => "pipeline.yaml",
    };

    /// <summary>Runs a stage body under the workspace lock, recording it in the runs table.</summary>
    /// <param name="stage">Stage name for the runs table and messages.</param>
    /// <param name="configPath">Path given by --config.</param>
    /// <param name="sections">Config sections this stage depends on: their hash is the run's config hash.</param>
    /// <param name="body">The stage's work; returns a one-line detail for the runs table. Its token is
    /// cancelled by Ctrl+C or SIGTERM: the body stops at its next check by throwing OperationCanceledException.</param>
    /// <param name="exclusive">Take the workspace lock. Only runs that write nothing of the workspace
    /// but their runs row (Evaluate --data, predict: they read the head and add to the content-keyed
    /// cache, which is safe beside other runs) go without; they also only read the workspace's owner
    /// (<see cref="WorkspaceOwner"/>), where a run with the lock records its config as the owner.</param>
    public static int Execute(string stage, string configPath, string[] sections, Func<PipelineConfig, IndexDb, CancellationToken, string?> body,
        bool exclusive = true)
    {
        using var interruption = new Interruption();
        var token = interruption.Token;
        return Guard(stage, () =>
        {
            var config = ConfigLoader.Load(configPath);
            // Another config's workspace is refused before anything is written, the lock file included.
            WorkspaceOwner.Check(config);
            using var _ = exclusive ? WorkspaceLock.Acquire(config.Workspace, stage, TimeSpan.FromSeconds(LockWaitSeconds()), token) : null;
            if (exclusive) WorkspaceOwner.Claim(config, stage);
            return ReportingIndexDamage(config, () =>
            {
                using var db = IndexDb.Open(config.IndexPath);
                var run = RunLog.Start(db, stage, ConfigHash(config, sections));
                try
                {
                    token.ThrowIfCancellationRequested();
                    var detail = body(config, db, token);
                    run.Finish(true, detail);
                    return ExitCodes.Success;
                }
                catch (Exception e)
                {
                    try { run.Finish(false, e is OperationCanceledException ? "interrupted" : e.Message); }
                    catch (Exception) { /* the index itself may be what failed */ }
                    throw;
                }
            });
        });
    }

    /// <summary>
    /// Runs work on the index so that damage to its file is reported as such (exit 3, naming the
    /// index and the fix), whatever it broke on the way: SQLite's own corruption errors, a value that
    /// fails validation, or any other error met while the file is damaged (a renamed column, a NULL
    /// where none can be), which SQLite's full check is asked about before calling it a bug.
    /// </summary>
    private static int ReportingIndexDamage(PipelineConfig config, Func<int> work)
    {
        try
        {
            return work();
        }
        catch (Exception e)
        {
            if (AsIndexDamage(config.IndexPath, e) is { } damage) throw damage;
            throw;
        }
    }

    private static IndexCorruptException? AsIndexDamage(string indexPath, Exception e) => e switch
    {
        IndexCorruptException => null,
        SqliteException s when IndexDb.IsCorruption(s) => new IndexCorruptException(indexPath, s.Message, s),
        IndexValueException v => new IndexCorruptException(indexPath, v.Detail, v),
        PipelineException or OperationCanceledException => null,
        _ when IsDiskFull(e) || IsReadOnly(e) => null,
        _ => IndexDb.Damage(indexPath) is { } damage ? new IndexCorruptException(indexPath, damage, e) : null,
    };

    /// <summary>
    /// Runs a body that shares the workspace with others of its kind (Extract shards, many at once):
    /// under the shared workspace lock, and without a runs-table row, as it only reads the index.
    /// Ctrl+C or SIGTERM (a scheduler's cancel or preemption) cancels the body's token.
    /// </summary>
    /// <param name="holder">Who holds the lock, for the message another run gets.</param>
    public static int ExecuteShared(string stage, string configPath, string holder, Action<PipelineConfig, CancellationToken> body)
    {
        using var interruption = new Interruption();
        var token = interruption.Token;
        return Guard(stage, () =>
        {
            var config = ConfigLoader.Load(configPath);
            WorkspaceOwner.Check(config);
            using var _ = WorkspaceLock.AcquireShared(config.Workspace, holder, TimeSpan.FromSeconds(LockWaitSeconds()), token);
            WorkspaceOwner.Claim(config, "extract shard");
            return ReportingIndexDamage(config, () =>
            {
                token.ThrowIfCancellationRequested();
                body(config, token);
                return ExitCodes.Success;
            });
        });
    }

    /// <summary>
    /// Runs a command that writes nothing of any workspace (predict, Evaluate --data): no lock, no
    /// runs-table row, so it serves a read-only workspace and runs beside any stage. Ctrl+C or
    /// SIGTERM cancels the body's token.
    /// </summary>
    public static int ExecuteReadOnly(string stage, Func<CancellationToken, int> body)
    {
        using var interruption = new Interruption();
        return Guard(stage, () => body(interruption.Token));
    }

    /// <summary>`clean`: removes what the stages wrote into the config's workspace (see <see cref="WorkspaceCleaner"/>),
    /// its owner file with the rest, which releases the workspace. Another config's workspace is refused.</summary>
    public static int Clean(string configPath) => Guard("clean", () =>
    {
        var config = ConfigLoader.Load(configPath);
        WorkspaceOwner.Check(config);
        foreach (var line in WorkspaceCleaner.Clean(config, TimeSpan.FromSeconds(LockWaitSeconds())).Lines()) Printable.WriteLine(line);
        return ExitCodes.Success;
    });

    /// <summary>Prints the workspace and the cache folder, resolved from the config, one per line.</summary>
    public static int PrintWorkspace(string configPath) => Guard("config", () =>
    {
        var config = ConfigLoader.Load(configPath);
        Console.WriteLine(config.Workspace);
        Console.WriteLine(config.CacheDir);
        return ExitCodes.Success;
    });

    /// <summary>Maps exceptions to exit codes and prints them for a person, never a bare stack trace for user errors.
    /// Messages name files and folders: their control characters are escaped (<see cref="Printable"/>).</summary>
    public static int Guard(string stage, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (PipelineException e)
        {
            Console.Error.WriteLine($"{stage}: error: {Printable.Text(e.Message)}");
            return e.ExitCode;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine($"{stage}: interrupted; work done so far is kept, run again to resume.");
            return ExitCodes.Interrupted;
        }
        catch (Exception e) when (IsDiskFull(e))
        {
            Console.Error.WriteLine($"{stage}: error: the disk is full ({Printable.Text(e.Message)}). " +
                                    "Free some space and run again; work already done is kept.");
            return ExitCodes.BadInput;
        }
        catch (Exception e) when (IsReadOnly(e))
        {
            Console.Error.WriteLine($"{stage}: error: a file system this run writes to is read-only ({Printable.Text(e.Message)}). " +
                                    "Remount it read-write, or point 'workspace' or 'cache.dir' in the config at a writable folder, and run again.");
            return ExitCodes.BadInput;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"{stage}: internal error: {Printable.Text(e.ToString())}");
            Console.Error.WriteLine("This is a bug: please report it with the lines above. Work already done is kept; a rerun resumes.");
            return ExitCodes.InternalFailure;
        }
    }

    public static string ConfigHash(PipelineConfig config, IEnumerable<string> sections) =>
        string.Join("-", sections.Select(s => config.SectionHashes.TryGetValue(s, out var h) ? h : "none"));

    private static bool IsDiskFull(Exception e) =>
        Errno.Is(e, Errno.NoSpace, Errno.QuotaExceeded) ||
        e is SqliteException { SqliteErrorCode: 13 /* SQLITE_FULL */ } ||
        e.InnerException is { } inner && IsDiskFull(inner);

    private static bool IsReadOnly(Exception e) =>
        Errno.Is(e, Errno.ReadOnlyFileSystem) ||
        e is SqliteException { SqliteErrorCode: 8 /* SQLITE_READONLY */ } ||
        e.InnerException is { } inner && IsReadOnly(inner);

    private static double LockWaitSeconds() =>
        double.TryParse(Environment.GetEnvironmentVariable("BP_LOCK_WAIT_SECONDS"), out var s) ? s : 0;
}
