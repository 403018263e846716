using Microsoft.Data.Sqlite;
using Polly;
using Polly.Retry;

namespace BottleneckPipeline.Runtime;

/// <summary>
/// Retries an operation on the errors a shared filesystem (NFS, Lustre) gives for a moment and
/// then stops giving: a stale handle after a server failover, an RPC timeout, a lost lock, EIO
/// from a brief server outage, and SQLite's busy/IO errors on top of them. Anything else (a
/// missing file, a full disk, a refused permission, a sharing violation that means another
/// process holds a lock) fails at once: waiting would not change it.
/// </summary>
public static class TransientIo
{
    // errno values (Linux), as .NET puts them in IOException.HResult.
    private const int Eintr = 4, Eio = 5, Enolck = 37, Etimedout = 110, Estale = 116, Eremoteio = 121, Econnreset = 104, Ehostdown = 112;
    // SQLite primary result codes.
    private const int SqliteBusy = 5, SqliteLocked = 6, SqliteIoErr = 10, SqliteProtocol = 15;

    /// <summary>Five tries over about three seconds: long enough for an NFS server to answer again,
    /// short enough that a real outage still fails the job (and the scheduler retries it).</summary>
    private static readonly ResiliencePipeline Retry = Build(TimeSpan.FromMilliseconds(200));

    public static bool IsTransient(Exception e) => e switch
    {
        FileNotFoundException or DirectoryNotFoundException or PathTooLongException => false,
        IOException io => (io.HResult & 0xFFFF) is Eintr or Eio or Enolck or Etimedout or Estale or Eremoteio or Econnreset or Ehostdown,
        SqliteException s => s.SqliteErrorCode is SqliteBusy or SqliteLocked or SqliteIoErr or SqliteProtocol,
        _ => false,
    };

    public static T Run<T>(Func<T> operation) => Retry.Execute(operation);

    public static void Run(Action operation) => Retry.Execute(operation);

    /// <summary>The policy with another first delay (tests use a short one); doubles with jitter after it.</summary>
    internal static ResiliencePipeline Build(TimeSpan firstDelay) => new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(IsTransient),
            MaxRetryAttempts = 4,
            Delay = firstDelay,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
        })
        .Build();
}
