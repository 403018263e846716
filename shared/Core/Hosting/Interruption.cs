using System.Runtime.InteropServices;

namespace BottleneckPipeline.Hosting;

/// <summary>
/// Turns the first Ctrl+C (SIGINT) or SIGTERM into a cancelled token: the stage stops at its next
/// check, records its run as failed and exits 130. A second signal gets the default action and ends
/// the process at once, which is safe too: every artifact is written to a temporary name first.
/// </summary>
internal sealed class Interruption : IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly PosixSignalRegistration[] _registrations;

    public Interruption() =>
        _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle), PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle)];

    public CancellationToken Token => _cancel.Token;

    private void Handle(PosixSignalContext context)
    {
        if (_cancel.IsCancellationRequested) return;
        context.Cancel = true;
        _cancel.Cancel();
    }

    public void Dispose()
    {
        foreach (var r in _registrations) r.Dispose();
        _cancel.Dispose();
    }
}
